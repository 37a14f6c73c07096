using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.Shell.Tests.Transport;
using Raft.Shell.Transport;
using Raft.Shell.Transport.Tls;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;
using static Raft.Shell.Tests.Transport.TestNode;

namespace Raft.Shell.Tests.Tls;

/// <summary>Two real transports over TLS on 127.0.8.1, with certificates openssl made.</summary>
public sealed class PeerTlsTests : IClassFixture<PeerTlsTests.Certs>
{
    private readonly TestCertificates certs;

    public PeerTlsTests(Certs fixture) => certs = fixture.Value;

    /// <summary>One set of certificates for the class (openssl takes a moment per certificate).</summary>
    public sealed class Certs : IDisposable
    {
        public TestCertificates Value { get; } = new();
        public void Dispose() => Value.Dispose();
    }

    private TlsOptions Tls(string name, bool clientCertAuth = true, string? allowedCn = null, string? crl = null) => new()
    {
        CertFile = certs.Cert(name),
        KeyFile = certs.Key(name),
        TrustedCaFile = certs.CaFile,
        ClientCertAuth = clientCertAuth,
        AllowedCn = allowedCn,
        CrlFile = crl,
    };

    private static Task<TestNode> StartTls(ulong id, TlsOptions? tls) =>
        StartAsync(id, configure: o =>
        {
            // A first TLS handshake on a loaded machine (JIT, chain building) can take seconds.
            o.HandshakeTimeout = TimeSpan.FromSeconds(10);
            o.Tls = tls;
            o.ListenPeerUrls = [tls is null ? "http://127.0.8.1:0" : "https://127.0.8.1:0"];
        });

    private static void Connect(TestNode a, TestNode b, bool tls = true)
    {
        a.Transport.AddPeer(b.Id, [$"{(tls ? "https" : "http")}://{b.Endpoint}"]);
        b.Transport.AddPeer(a.Id, [$"https://{a.Endpoint}"]);
    }

    /// <summary>a sends to b; b logs the refused handshake, whose line holds <paramref name="reason"/>, and receives nothing.</summary>
    private static async Task AssertRefused(TestNode a, TestNode b, string reason)
    {
        a.Transport.Send(Msg(a.Id, b.Id, 1));
        var line = await b.Log.WaitForAsync(LogLevel.Warning, "rejected connection", TimeSpan.FromSeconds(10));
        Assert.Contains(reason, line, StringComparison.Ordinal);
        Assert.Empty(b.Raft.Drain());
    }

    /// <summary>
    /// Sends heartbeats until one arrives: messages queued before the first connection is up are
    /// dropped if that dial fails (raft retransmits), so a test that counts messages waits for the link first.
    /// </summary>
    internal static async Task Connected(TestNode from, TestNode to, TimeSpan timeout)
    {
        var index = 1_000_000UL;
        var arrived = Task.Run(() => to.Raft.ReceiveAsync(timeout));
        while (!arrived.IsCompleted)
        {
            from.Transport.Send(Msg(from.Id, to.Id, index++, MessageType.MsgHeartbeat));
            await Task.WhenAny(arrived, Task.Delay(100));
        }
        Assert.Equal(from.Id, (await arrived).From);
        to.Raft.Drain();
    }

    [Fact]
    public async Task MessagesAndSnapshotsFlowOverMutualTls()
    {
        await using var a = await StartTls(1, Tls("peer", allowedCn: "member"));
        await using var b = await StartTls(2, Tls("peer2", allowedCn: "member"));
        Connect(a, b);
        await Connected(a, b, TimeSpan.FromSeconds(20));
        await Connected(b, a, TimeSpan.FromSeconds(20));

        for (var i = 1UL; i <= 200; i++) a.Transport.Send(Msg(1, 2, i, entries: 1, entrySize: 100));
        for (var i = 1UL; i <= 200; i++) Assert.Equal(i, (await b.Raft.ReceiveAsync()).Index);
        b.Transport.Send(Msg(2, 1, 7, MessageType.MsgAppResp));
        Assert.Equal(7UL, (await a.Raft.ReceiveAsync()).Index);

        var data = new byte[3 * 1024 * 1024 + 5];
        new Random(3).NextBytes(data);
        a.Transport.SendSnapshot(PeerTransportTests.SnapMsg(1, 2, data, index: 42));
        var snap = await b.Raft.ReceiveAsync(TimeSpan.FromSeconds(20));
        Assert.True(snap.Type.IsMsgSnap);
        Assert.Equal(data, snap.Snapshot.Data);
        await Eventually(() => a.Raft.Snapshots.Contains((2UL, SnapshotStatus.SnapshotFinish)), "SnapshotFinish over TLS");
        Assert.False(b.Log.Has(LogLevel.Warning, "rejected connection"));
    }

    [Theory]
    [InlineData("other", "not signed by a trusted CA")]
    [InlineData("expired", "expired at")]
    [InlineData("wrong-cn", "common name \"intruder\" is not the allowed \"member\"")]
    public async Task PeerWithoutAValidCertificateIsRefusedAndTheReasonLogged(string cert, string reason)
    {
        await using var b = await StartTls(2, Tls("peer2", allowedCn: "member"));
        // The dialler trusts the right CA; only its own certificate is bad.
        await using var a = await StartTls(1, Tls(cert, allowedCn: "member"));
        Connect(a, b);
        await AssertRefused(a, b, reason);
        await Eventually(() => a.Raft.Unreachable.Contains(2UL), "the dialler sees peer 2 unreachable", TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task AutoTlsPeersTalkWithGeneratedCertificates()
    {
        // etcd's --peer-auto-tls: self-signed on both sides, nothing verified against a CA.
        await using var a = await StartTls(1, new TlsOptions { AutoTls = true });
        await using var b = await StartTls(2, new TlsOptions { AutoTls = true });
        Connect(a, b);
        await Connected(a, b, TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task PlainTcpPeerCannotTalkToATlsMember()
    {
        await using var b = await StartTls(2, Tls("peer2"));
        await using var a = await StartTls(1, null);
        Connect(a, b, tls: false);
        await AssertRefused(a, b, "TLS handshake failed");
    }

    [Fact]
    public async Task RevokedCertificateIsRefused()
    {
        var crl = certs.Revoke("peer");
        await using var b = await StartTls(2, Tls("peer2", crl: crl));
        await using var a = await StartTls(1, Tls("peer"));
        Connect(a, b);
        await AssertRefused(a, b, "is revoked by the CRL");
    }

    [Fact]
    public async Task CertificateFilesReplacedOnDiskAreUsedWithoutARestart()
    {
        // The dialler starts with the expired certificate in its files, then an operator puts a
        // valid one in their place: the next handshake reads the new files.
        var dir = Directory.CreateTempSubdirectory("raft-tls-rotate-").FullName;
        try
        {
            var cert = Path.Combine(dir, "cert.pem");
            var key = Path.Combine(dir, "key.pem");
            File.Copy(certs.Cert("expired"), cert);
            File.Copy(certs.Key("expired"), key);
            await using var b = await StartTls(2, Tls("peer2"));
            await using var a = await StartTls(1, new TlsOptions { CertFile = cert, KeyFile = key, TrustedCaFile = certs.CaFile, ClientCertAuth = true });
            Connect(a, b);
            a.Transport.Send(Msg(1, 2, 1));
            Assert.Contains("expired", await b.Log.WaitForAsync(LogLevel.Warning, "rejected connection", TimeSpan.FromSeconds(10)), StringComparison.Ordinal);

            File.Copy(certs.Cert("peer"), cert, overwrite: true);
            File.Copy(certs.Key("peer"), key, overwrite: true);
            await Connected(a, b, TimeSpan.FromSeconds(15));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void BadSettingsAreRefusedWithTheFlagNamed()
    {
        string Flag(string p) => $"<{p}>";
        Assert.Contains(new TlsOptions { CertFile = certs.Cert("peer"), KeyFile = certs.Key("peer"), ClientCertAuth = true }.Validate(Flag),
            e => e.Contains("<ClientCertAuth> needs <TrustedCaFile>", StringComparison.Ordinal));
        Assert.Contains(new TlsOptions { CertFile = certs.Cert("peer") }.Validate(Flag),
            e => e.Contains("<CertFile> and <KeyFile> must be given together", StringComparison.Ordinal));
        Assert.Contains(new TlsOptions { CertFile = certs.Cert("peer"), KeyFile = certs.Key("client") }.Validate(Flag),
            e => e.Contains($"cannot use key file {certs.Key("client")}", StringComparison.Ordinal));
        Assert.Contains(new TlsOptions { CertFile = Path.Combine(certs.Dir, "missing.pem"), KeyFile = certs.Key("peer") }.Validate(Flag),
            e => e.Contains("cannot read certificate file", StringComparison.Ordinal));
        Assert.Contains(new TlsOptions { AutoTls = true, MinVersion = "TLS1.1" }.Validate(Flag),
            e => e.Contains("<MinVersion>: unsupported TLS version", StringComparison.Ordinal));
        Assert.Contains(new TlsOptions { AutoTls = true, CipherSuites = ["TLS_BOGUS"] }.Validate(Flag),
            e => e.Contains("unexpected TLS cipher suite \"TLS_BOGUS\"", StringComparison.Ordinal));
        Assert.Empty(Tls("peer").Validate(Flag));
        Assert.Throws<ArgumentException>(() => new PeerTransportOptions { MemberId = 1, ClusterId = 1, ListenPeerUrls = ["https://127.0.8.1:0"] }.Validate());
    }
}
