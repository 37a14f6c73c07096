using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Raft.Core;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;
using Raft.Interop.Wire;
using static Raft.Shell.Tests.Transport.TestNode;

namespace Raft.Shell.Tests.Transport;

/// <summary>
/// Strangers and bad bytes on the peer port: each is refused or closed with a logged reason, and the
/// node goes on serving its real peers. Raw-socket clients spell the documented wire format by hand.
/// </summary>
public class PeerBadInputTests
{
    [Fact]
    public async Task PeerFromAnotherClusterIsRefusedAndLoggedOnBothSides()
    {
        await using var a = await StartAsync(1, cluster: 0xc1);
        await using var b = await StartAsync(2, cluster: 0xc1);
        await using var stranger = await StartAsync(3, cluster: 0xbad);
        Connect(a, b);
        a.Transport.AddPeer(3, [stranger.Url]); // a knows member 3, so only the cluster id is wrong
        stranger.Transport.AddPeer(1, [a.Url]);

        Assert.Contains("remote-peer-id=3, remote-peer-cluster-id=bad",
            await a.Log.WaitForAsync(LogLevel.Warning, "request cluster ID mismatch (local-member-id=1, local-member-cluster-id=c1"));
        Assert.Contains("remote-peer-cluster-id=c1",
            await stranger.Log.WaitForAsync(LogLevel.Warning, "request sent was ignored by remote peer due to cluster ID mismatch"));

        await AssertServes(b, a, 1);
        stranger.Transport.Send(Msg(3, 1, 9));
        await Eventually(() => stranger.Raft.Unreachable.Contains(1UL), "stranger told 1 is unreachable");
        await AssertServes(b, a, 2);
        Assert.DoesNotContain(a.Raft.Drain(), m => m.From == 3);
    }

    [Fact]
    public async Task UnknownMemberIsRefusedAndLogged()
    {
        await using var a = await StartAsync(1);
        await using var b = await StartAsync(2);
        await using var unknown = await StartAsync(4);
        Connect(a, b);
        unknown.Transport.AddPeer(1, [a.Url]);

        Assert.Contains("remote-peer-id-from=4",
            await a.Log.WaitForAsync(LogLevel.Warning, "failed to find remote peer in cluster"));
        Assert.Contains("error sender not found",
            await unknown.Log.WaitForAsync(LogLevel.Warning, "request sent was ignored by remote peer"));
        await AssertServes(b, a, 1);
    }

    [Fact]
    public async Task RemovedMemberIsRefusedAndToldSo()
    {
        await using var a = await StartAsync(1);
        await using var b = await StartAsync(2);
        await using var removed = await StartAsync(5);
        Connect(a, b);
        a.Raft.Removed[5] = true;
        removed.Transport.AddPeer(1, [a.Url]);

        await a.Log.WaitForAsync(LogLevel.Warning, "rejected stream from remote peer because it was removed (local-member-id=1, remote-peer-id-from=5");
        await removed.Log.WaitForAsync(LogLevel.Error, "the member has been permanently removed from the cluster (reported-by=1");
        await Eventually(() => removed.Raft.RemovedReports.Contains(1UL), "removal reported to raft");
        await AssertServes(b, a, 1);
    }

    [Fact]
    public async Task ConnectionMeantForAnotherMemberIsRefused()
    {
        await using var a = await StartAsync(1);
        await using var b = await StartAsync(2);
        Connect(a, b);
        b.Transport.AddPeer(7, [a.Url]); // b's idea of member 7's address is wrong: it is a

        Assert.Contains("remote-peer-id-header=7, remote-peer-id-from=2",
            await a.Log.WaitForAsync(LogLevel.Warning, "ignored streaming request; ID mismatch"));
        Assert.Contains("to field mismatch: 127.0.0.1",
            await b.Log.WaitForAsync(LogLevel.Warning, "request sent was ignored by remote peer"));
        await AssertServes(b, a, 1);
    }

    [Fact]
    public async Task GarbageBytesCloseOnlyThatConnectionAndTheListenerKeepsAccepting()
    {
        await using var a = await StartAsync(1);
        await using var b = await StartAsync(2);
        Connect(a, b);
        await AssertServes(b, a, 1);

        for (var attempt = 0; attempt < 2; attempt++)
        {
            using var raw = await ConnectRawAsync(a);
            await raw.SendAsync(Encoding.ASCII.GetBytes("GET /raft/stream/message/2 HTTP/1.1\r\nHost: x\r\n\r\n"));
            await AssertClosedByPeerAsync(raw);
        }

        var refusals = a.Log.Lines.Where(l => l.Text.StartsWith("rejected peer connection: not a raft peer", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, refusals.Count);
        Assert.All(refusals, l => Assert.Contains("bad magic (first bytes 0x474554202F726166)", l.Text));
        await AssertServes(b, a, 2);
        Assert.Equal(1, b.Log.Lines.Count(l => l.Text.StartsWith("established TCP streaming connection", StringComparison.Ordinal)));
    }

    public static TheoryData<string, byte[], string> BadStreams => new()
    {
        { "oversized length prefix", [0xff, 0xff, 0xff, 0xf0], "frame of 4294967280 bytes exceeds the limit of 4194304 bytes" },
        { "undecodable frame", [0, 0, 0, 3, 0xff, 0xff, 0xff], "undecodable message" },
        { "frame from another member", Frame(Msg(2, 1, 1)), "message from 2 to 1 on a connection from 3 to 1" },
        { "frame for another member", Frame(Msg(3, 2, 1)), "message from 3 to 2 on a connection from 3 to 1" },
        { "truncated frame", [0, 0, 1, 0, 1, 2, 3], "connection closed in the middle of a frame" },
    };

    [Theory]
    [MemberData(nameof(BadStreams))]
    public async Task BadFramesAfterAValidHandshakeCloseOnlyThatConnection(string what, byte[] bad, string reason)
    {
        await using var a = await StartAsync(1, cluster: 0x1234);
        await using var b = await StartAsync(2, cluster: 0x1234);
        Connect(a, b);
        a.Transport.AddPeer(3, [$"http://127.0.0.1:{FreePort()}"]); // the raw client claims to be member 3

        using var raw = await ConnectRawAsync(a);
        await raw.SendAsync(Hello(cluster: 0x1234, from: 3, to: 1));
        var reply = await ReceiveExactlyAsync(raw, 24);
        Assert.Equal("RAFT"u8.ToArray(), reply[..4]);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(4)));
        Assert.Equal(0, reply[6]); // accepted
        Assert.Equal(0x1234UL, BinaryPrimitives.ReadUInt64BigEndian(reply.AsSpan(8)));
        Assert.Equal(1UL, BinaryPrimitives.ReadUInt64BigEndian(reply.AsSpan(16)));

        // A well-formed frame goes through: the format is what the docs say.
        await raw.SendAsync(Frame(Msg(3, 1, 77, entries: 1, entrySize: 10)));
        Assert.Equal(Msg(3, 1, 77, entries: 1, entrySize: 10), await a.Raft.ReceiveAsync());

        await raw.SendAsync(bad);
        if (what == "truncated frame") raw.Shutdown(SocketShutdown.Send);
        await AssertClosedByPeerAsync(raw);
        Assert.Contains(reason, await a.Log.WaitForAsync(LogLevel.Warning, "closed peer connection (local-member-id=1, remote-peer-id=3"));
        await AssertServes(b, a, 1);
    }

    [Fact]
    public async Task SilentConnectionsAreClosedAfterTheirTimeouts()
    {
        await using var a = await StartAsync(1, configure: o =>
        {
            o.HandshakeTimeout = TimeSpan.FromMilliseconds(200);
            o.ReadTimeout = TimeSpan.FromMilliseconds(200);
        });
        a.Transport.AddPeer(3, [$"http://127.0.0.1:{FreePort()}"]);

        using var mute = await ConnectRawAsync(a);
        await AssertClosedByPeerAsync(mute);
        await a.Log.WaitForAsync(LogLevel.Warning, "no handshake within 200 ms");

        using var idle = await ConnectRawAsync(a);
        await idle.SendAsync(Hello(cluster: 1, from: 3, to: 1));
        Assert.Equal(0, (await ReceiveExactlyAsync(idle, 24))[6]);
        await AssertClosedByPeerAsync(idle);
        await a.Log.WaitForAsync(LogLevel.Warning, "no data for 200 ms");
    }

    [Fact]
    public async Task ConnectionsPastTheLimitAreClosedOnAcceptAndPeersStillConnectOnceTheyGo()
    {
        await using var a = await StartAsync(1, configure: o =>
        {
            o.MaxInboundConnections = 4;
            o.HandshakeTimeout = TimeSpan.FromSeconds(30);
        });
        await using var b = await StartAsync(2);
        var held = new List<Socket>();
        try
        {
            // Four silent sockets hold every slot (the handshake timeout is long); a fifth is closed at once.
            for (var i = 0; i < 4; i++) held.Add(await ConnectRawAsync(a));
            await WaitUntilAsync(() => a.Transport.InboundConnectionCount == 4);
            using var extra = await ConnectRawAsync(a);
            await AssertClosedByPeerAsync(extra);
            await a.Log.WaitForAsync(LogLevel.Warning, "rejected peer connection: too many open connections");
        }
        finally
        {
            foreach (var s in held) s.Dispose();
        }
        await WaitUntilAsync(() => a.Transport.InboundConnectionCount == 0);
        Connect(a, b);
        await AssertServes(b, a, 1);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached within 10 s");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task UnsupportedProtocolVersionIsAnsweredAndClosed()
    {
        await using var a = await StartAsync(1);
        a.Transport.AddPeer(3, [$"http://127.0.0.1:{FreePort()}"]);
        using var raw = await ConnectRawAsync(a);
        await raw.SendAsync(Hello(cluster: 1, from: 3, to: 1, version: 9));
        Assert.Equal(1, (await ReceiveExactlyAsync(raw, 24))[6]); // incompatible version
        await AssertClosedByPeerAsync(raw);
        await a.Log.WaitForAsync(LogLevel.Warning, "incompatible version: remote speaks protocol 9, local 1");
    }

    /// <summary>The 32-byte hello, written from the format's description rather than the code.</summary>
    private static byte[] Hello(ulong cluster, ulong from, ulong to, ushort version = 1, byte kind = 1)
    {
        var h = new byte[32];
        "RAFT"u8.CopyTo(h);
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(4), version);
        h[6] = kind;
        BinaryPrimitives.WriteUInt64BigEndian(h.AsSpan(8), cluster);
        BinaryPrimitives.WriteUInt64BigEndian(h.AsSpan(16), from);
        BinaryPrimitives.WriteUInt64BigEndian(h.AsSpan(24), to);
        return h;
    }

    private static byte[] Frame(Message m)
    {
        var body = RaftpbMarshal.Marshal(m);
        var f = new byte[4 + body.Length];
        BinaryPrimitives.WriteUInt32BigEndian(f, (uint)body.Length);
        body.CopyTo(f, 4);
        return f;
    }

    private static async Task<Socket> ConnectRawAsync(TestNode node)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(node.Endpoint);
        return s;
    }

    private static async Task<byte[]> ReceiveExactlyAsync(Socket s, int n)
    {
        var buf = new byte[n];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        for (var read = 0; read < n;)
        {
            var got = await s.ReceiveAsync(buf.AsMemory(read), SocketFlags.None, cts.Token);
            if (got == 0) throw new IOException($"closed after {read} of {n} bytes");
            read += got;
        }
        return buf;
    }

    /// <summary>The listener closed this connection: a read sees end of stream (or a reset).</summary>
    private static async Task AssertClosedByPeerAsync(Socket s)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var buf = new byte[256];
        try
        {
            while (await s.ReceiveAsync(buf, SocketFlags.None, cts.Token) > 0)
            {
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
        }
    }
}
