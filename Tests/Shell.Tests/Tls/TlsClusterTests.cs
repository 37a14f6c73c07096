using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using Raft.Shell.Tests.EndToEnd;

namespace Raft.Shell.Tests.Tls;

/// <summary>
/// <c>raft serve</c> processes with etcd's TLS flags on 127.0.8.x, certificates made with openssl:
/// clients need a certificate of the trusted CA (etcdctl 3.4, HttpClient and curl), a peer without a valid
/// certificate cannot join, and a three-member cluster elects, replicates, survives a SIGKILL of its
/// leader and rotates its certificates while serving.
/// </summary>
public sealed class TlsClusterTests : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);
    private readonly TestCertificates certs = new();
    private readonly string root = Directory.CreateTempSubdirectory("raft-tls-cluster-").FullName;
    private readonly List<TlsMember> members = [];

    private TlsMember NewMember(int n, string? peerCert = null)
    {
        // Each member its own peer certificate, as an operator issues them.
        if (peerCert is null)
        {
            peerCert = $"m{n}-peer";
            certs.Issue(peerCert, "member");
        }
        var m = new TlsMember(certs, n, root, peerCert);
        members.Add(m);
        return m;
    }

    private static string Cluster(params TlsMember[] ms) => string.Join(",", ms.Select(m => $"{m.Name}={m.PeerUrl}"));

    [Fact]
    public async Task ClientsWithoutACertificateOfTheTrustedCaAreRefused()
    {
        var m1 = NewMember(1);
        m1.Launch(Cluster(m1), "new", m1.TlsFlags(crl: null));
        await m1.WaitStartedAsync();

        using (var good = m1.Client())
        {
            await Wait.UntilAsync("a write over TLS", Long, async () => await good.PutAsync("tls/k", "v") is { Ok: true }, () => m1.Output);
            Assert.Equal("v", await good.GetValueAsync("tls/k"));
        }

        // curl, as an operator would call it.
        var (code, body) = Curl("--cacert", certs.CaFile, "--cert", certs.Cert("client"), "--key", certs.Key("client"),
            "-X", "POST", "-d", $"{{\"key\":\"{GatewayClient.B64("tls/k")}\"}}", $"{m1.ClientUrl}/v3/kv/range");
        Assert.True(code == 0, $"curl exited {code}: {body}");
        Assert.Contains($"\"value\":\"{GatewayClient.B64("v")}\"", body, StringComparison.Ordinal);
        var (noCertCode, _) = Curl("--cacert", certs.CaFile, "-X", "POST", "-d", "{}", $"{m1.ClientUrl}/v3/maintenance/status");
        Assert.NotEqual(0, noCertCode);

        // etcdctl 3.4 over gRPC on the same port (HTTP/2 chosen by ALPN), with etcd's TLS flags.
        string[] endpoint = [m1.ClientUrl];
        string[] tls = ["--cacert", certs.CaFile, "--cert", certs.Cert("client"), "--key", certs.Key("client")];
        await Grpc.Etcdctl.OkAsync(endpoint, [.. tls, "put", "tls/ctl", "grpc"]);
        Assert.Equal("tls/ctl\ngrpc\n", (await Grpc.Etcdctl.OkAsync(endpoint, [.. tls, "get", "tls/ctl"])).Stdout);
        foreach (var bad in new[] { null, "other", "expired" })
        {
            string[] args = bad is null ? ["--cacert", certs.CaFile] : ["--cacert", certs.CaFile, "--cert", certs.Cert(bad), "--key", certs.Key(bad)];
            var refused = await Grpc.Etcdctl.RunAsync(endpoint, [.. args, "--command-timeout=5s", "get", "tls/ctl"]);
            Assert.False(refused.Ok, $"etcdctl with {bad ?? "no"} certificate was served: {refused}");
            Assert.DoesNotContain("grpc", refused.Stdout, StringComparison.Ordinal);
        }

        foreach (var (cert, reason) in new (string?, string)[]
                 {
                     (null, "no certificate presented"),
                     ("other", "not signed by a trusted CA"),
                     ("expired", "expired at"),
                 })
        {
            using var client = m1.Client(cert);
            Assert.Null(await client.PutAsync("tls/k", "refused"));
            await Wait.UntilAsync($"the member to log why it refused {cert ?? "no certificate"}", TimeSpan.FromSeconds(10),
                () => Task.FromResult(m1.Output.Contains(reason, StringComparison.Ordinal)), () => m1.Output);
        }
        using (var good = m1.Client())
            Assert.Equal("v", await good.GetValueAsync("tls/k"));
    }

    [Fact]
    public async Task PeerWithoutAValidCertificateCannotJoinAndTheReasonIsLogged()
    {
        var m1 = NewMember(1);
        m1.Launch(Cluster(m1), "new", m1.TlsFlags(crl: null));
        await m1.WaitStartedAsync();
        using var client = m1.Client();
        await Wait.UntilAsync("a leader", Long, async () => await client.PutAsync("k", "1") is { Ok: true }, () => m1.Output);

        // Added as etcd's operator does, then started with a certificate of another CA.
        var m2 = NewMember(2, peerCert: "other");
        Assert.True((await client.MemberAddAsync(m2.PeerUrl))?.Ok, "member add");
        m2.Launch(Cluster(m1, m2), "existing", m2.TlsFlags(crl: null));

        await Wait.UntilAsync("m1 to log the refused peer", Long,
            () => Task.FromResult(m1.Output.Contains("rejected connection", StringComparison.Ordinal)
                                  && m1.Output.Contains("not signed by a trusted CA", StringComparison.Ordinal)), () => m1.Output);
        Assert.True(await m2.Process!.WaitForExitAsync(Long), $"m2 kept running:\n{m2.Output}");
        Assert.NotEqual(0, m2.Process.ExitCode);
        Assert.DoesNotContain("m2: member ", m2.Output, StringComparison.Ordinal);
        // m2 stays a member that never started: its certificate kept it out.
        Assert.Contains("\"name\":\"m1\"", (await client.MemberListAsync())!.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ThreeMemberClusterElectsReplicatesSurvivesLeaderKillAndRotatesCertificates()
    {
        var crl = certs.RevokeFiles();
        var ms = new[] { NewMember(1), NewMember(2), NewMember(3) };
        var cluster = Cluster(ms);
        foreach (var m in ms) m.Launch(cluster, "new", m.TlsFlags(crl));
        foreach (var m in ms) await m.WaitStartedAsync();

        var leader = await LeaderAsync(ms);
        using (var c = leader.Client())
            Assert.True((await c.PutAsync("a", "1"))?.Ok);
        foreach (var m in ms)
            await ValueAsync(m, "a", "1");

        // SIGKILL the leader; the other two elect and keep serving.
        leader.Kill();
        var rest = ms.Where(m => m != leader).ToArray();
        var second = await LeaderAsync(rest);
        using (var c = second.Client())
            Assert.True((await c.PutAsync("b", "2"))?.Ok);
        foreach (var m in rest)
            await ValueAsync(m, "b", "2");

        // Rotation while serving: every member's peer and server certificates are replaced on disk,
        // and the old peer certificates are revoked. The two running members keep their process.
        var old = new List<string>();
        foreach (var m in ms)
        {
            old.Add(m.Rotate("peer", "member", root));
            m.Rotate("server", "server", root);
        }
        certs.RevokeFiles(old.ToArray());

        // New client connections see the new server certificate.
        foreach (var m in rest)
        {
            X509Certificate2? seen = null;
            using var c = m.Client(serverCertificate: cert => seen = new X509Certificate2(cert));
            await ValueAsync(m, "b", "2");
            Assert.True((await c.StatusAsync()) is not null);
            var onDisk = new X509Certificate2Collection();
            onDisk.ImportFromPemFile(m.ServerCert.Cert);
            Assert.Equal(onDisk[0].SerialNumber, seen!.SerialNumber);
        }

        // The killed member comes back: it dials with its new certificate and checks the others'
        // against the CRL that revokes their old ones, so it catches up only if they present theirs anew.
        leader.Launch(cluster, "new", leader.TlsFlags(crl));
        await leader.WaitStartedAsync();
        await ValueAsync(leader, "b", "2");
        using (var c = second.Client())
            Assert.True((await c.PutAsync("c", "3"))?.Ok);
        foreach (var m in ms)
            await ValueAsync(m, "c", "3");
    }

    private static async Task<TlsMember> LeaderAsync(IReadOnlyList<TlsMember> among)
    {
        TlsMember? found = null;
        await Wait.UntilAsync("a leader all agree on", Long, async () =>
        {
            ulong leader = 0;
            foreach (var m in among)
            {
                using var c = m.Client();
                var s = await c.StatusAsync();
                if (s is null || s.Leader == 0 || (leader != 0 && s.Leader != leader)) return false;
                leader = s.Leader;
            }
            found = among.FirstOrDefault(m => m.Id == leader);
            return found is not null;
        }, () => string.Join("\n", among.Select(m => m.Output)));
        return found!;
    }

    private static Task ValueAsync(TlsMember m, string key, string value) =>
        Wait.UntilAsync($"{m.Name} to hold {key}={value}", Long, async () =>
        {
            using var c = m.Client();
            var reply = await c.RangeAsync(key, serializable: true);
            return reply is { Ok: true } && GatewayClient.Kvs(reply).GetValueOrDefault(key) == value;
        }, () => m.Output);

    private static (int Code, string Output) Curl(params string[] args)
    {
        var psi = new ProcessStartInfo("curl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-sS", "--max-time", "10" }.Concat(args)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output + err.Result);
    }

    public void Dispose()
    {
        foreach (var m in members) m.Dispose();
        certs.Dispose();
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
