using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;
using Raft.Shell.Tests.Grpc;

namespace Raft.Shell.Tests.Tls;

/// <summary>
/// etcd's AuthInfoFromTLS: with <c>--client-cert-auth</c> and auth on, a client that sends no token
/// is the user its certificate's common name names, with that user's roles (etcdctl 3.4 with
/// <c>--cert</c> and no <c>--user</c>).
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class ClientCertAuthTests : IDisposable
{
    private readonly TestCertificates certs = new();
    private readonly TempDir root = new();

    [Fact]
    public async Task A_certificate_common_name_authenticates_its_user_limited_by_its_role()
    {
        Etcdctl.Require();
        certs.Issue("alice", "alice");
        using var m = new TlsMember(certs, 5, root.Path, subnet: "127.0.24");
        m.Launch($"{m.Name}={m.PeerUrl}", "new", [.. m.TlsFlags(crl: null), "--bcrypt-cost", "4", "--heartbeat-interval", "20", "--election-timeout", "200"]);
        await m.WaitStartedAsync();
        string[] at = [m.ClientUrl];
        string[] Cert(string name) => ["--cacert", certs.CaFile, "--cert", certs.Cert(name), "--key", certs.Key(name)];
        var asRoot = Cert("client"); // CN=root
        var asAlice = Cert("alice");

        await Wait.UntilAsync("a leader", TimeSpan.FromSeconds(30), async () => (await Etcdctl.RunAsync(at, [.. asRoot, "put", "other", "o"])).Ok, () => m.Output);
        await Etcdctl.OkAsync(at, [.. asRoot, "user", "add", "root", "--new-user-password=root-pw"]);
        await Etcdctl.OkAsync(at, [.. asRoot, "user", "grant-role", "root", "root"]);
        await Etcdctl.OkAsync(at, [.. asRoot, "user", "add", "alice", "--new-user-password=alice-pw"]);
        await Etcdctl.OkAsync(at, [.. asRoot, "role", "add", "app"]);
        await Etcdctl.OkAsync(at, [.. asRoot, "role", "grant-permission", "app", "readwrite", "app/", "--prefix=true"]);
        await Etcdctl.OkAsync(at, [.. asRoot, "user", "grant-role", "alice", "app"]);
        // The certificate names root, who has the root role: it may enable auth and goes on administering.
        await Etcdctl.OkAsync(at, [.. asRoot, "auth", "enable"]);
        Assert.Contains("alice", (await Etcdctl.OkAsync(at, [.. asRoot, "user", "list"])).Stdout);

        // alice's certificate: her prefix, nothing else, no administration.
        Assert.Equal("OK", (await Etcdctl.OkAsync(at, [.. asAlice, "put", "app/cn", "by-cert"])).Stdout.Trim());
        Assert.Contains("by-cert", (await Etcdctl.OkAsync(at, [.. asAlice, "get", "app/cn"])).Stdout);
        foreach (var denied in new[] { new[] { "get", "other" }, ["put", "other", "x"], ["user", "list"], ["get", "", "--from-key"] })
        {
            var r = await Etcdctl.RunAsync(at, [.. asAlice, .. denied]);
            Assert.False(r.Ok, r.ToString());
            Assert.Contains("etcdserver: permission denied", r.Stderr);
        }
        Assert.Contains("o", (await Etcdctl.OkAsync(at, [.. asRoot, "get", "other"])).Stdout);

        // A common name that is no user is no one; a token, when given, wins over the certificate.
        var stranger = await Etcdctl.RunAsync(at, [.. Cert("wrong-cn"), "get", "app/cn"]);
        Assert.False(stranger.Ok, stranger.ToString());
        Assert.Contains("etcdserver: permission denied", stranger.Stderr);
        Assert.Contains("o", (await Etcdctl.OkAsync(at, [.. asAlice, "--user=root:root-pw", "get", "other"])).Stdout);
    }

    public void Dispose()
    {
        certs.Dispose();
        root.Dispose();
    }
}
