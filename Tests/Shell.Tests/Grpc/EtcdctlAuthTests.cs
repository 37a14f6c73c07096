using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;

namespace Raft.Shell.Tests.Grpc;

/// <summary>etcdctl 3.4's user, role and auth commands against one <c>raft serve</c> process, and the permissions they set.</summary>
[Collection(ProcessCollection.Name)]
public class EtcdctlAuthTests
{
    private const string RootPassword = "Sup3r-secret-root";
    private const string AlicePassword = "alice-clear-pw-77";

    [Fact]
    public async Task Users_roles_and_prefix_permissions_as_etcd_and_no_clear_password_on_disk_or_in_logs()
    {
        using var cluster = new ProcessCluster(1, "--heartbeat-interval", "20", "--election-timeout", "200", "--snapshot-count", "5", "--log-level", "debug");
        var m = await EtcdctlSingleMemberTests.StartAsync(cluster);
        string[] at = [m.ClientUrl];
        var root = $"--user=root:{RootPassword}";
        var alice = $"--user=alice:{AlicePassword}";

        var enableWithoutRoot = await Etcdctl.RunAsync(at, "auth", "enable");
        Assert.False(enableWithoutRoot.Ok, enableWithoutRoot.ToString());
        Assert.Contains("etcdserver: root user does not exist", enableWithoutRoot.Stderr);

        await Etcdctl.OkAsync(at, "user", "add", "root", "--new-user-password=" + RootPassword);
        await Etcdctl.OkAsync(at, "user", "add", "alice", "--new-user-password=" + AlicePassword);
        await Etcdctl.OkAsync(at, "role", "add", "app");
        await Etcdctl.OkAsync(at, "role", "grant-permission", "app", "readwrite", "app/", "--prefix=true");
        await Etcdctl.OkAsync(at, "user", "grant-role", "alice", "app");
        await Etcdctl.OkAsync(at, "put", "secret", "s0");
        Assert.Contains("Authentication Enabled", (await Etcdctl.OkAsync(at, "auth", "enable")).Stdout);

        // Without a user, and with a wrong password: etcd's errors.
        var anonymous = await Etcdctl.RunAsync(at, "get", "secret");
        Assert.False(anonymous.Ok, anonymous.ToString());
        Assert.Contains("etcdserver: user name is empty", anonymous.Stderr);
        var wrong = await Etcdctl.RunAsync(at, "--user=alice:nope", "get", "app/x");
        Assert.False(wrong.Ok, wrong.ToString());
        Assert.Contains("etcdserver: authentication failed, invalid user ID or password", wrong.Stderr);

        // Root reads and writes everything; alice only under app/.
        Assert.Equal("OK", (await Etcdctl.OkAsync(at, root, "put", "secret", "s1")).Stdout.Trim());
        Assert.Contains("s1", (await Etcdctl.OkAsync(at, root, "get", "secret")).Stdout);
        Assert.Equal("OK", (await Etcdctl.OkAsync(at, alice, "put", "app/k", "v")).Stdout.Trim());
        Assert.Contains("v", (await Etcdctl.OkAsync(at, alice, "get", "app/", "--prefix")).Stdout);
        foreach (var denied in new[] { new[] { "get", "secret" }, ["put", "secret", "x"], ["del", "secret"], ["get", "", "--from-key"], ["put", "apx", "x"] })
        {
            var r = await Etcdctl.RunAsync(at, [alice, .. denied]);
            Assert.False(r.Ok, r.ToString());
            Assert.Contains("etcdserver: permission denied", r.Stderr);
        }
        var aliceAdmin = await Etcdctl.RunAsync(at, alice, "user", "list");
        Assert.Contains("etcdserver: permission denied", aliceAdmin.Stderr);
        Assert.Contains("alice", (await Etcdctl.OkAsync(at, root, "user", "list")).Stdout);
        Assert.Contains("app/", (await Etcdctl.OkAsync(at, root, "role", "get", "app")).Stdout);
        Assert.Contains("app", (await Etcdctl.OkAsync(at, root, "user", "get", "alice")).Stdout);

        // The gateway: a token from /v3/auth/authenticate in the Authorization header.
        var auth = await GatewayJson.PostAsync(m, "/v3/auth/authenticate", $"{{\"name\":\"alice\",\"password\":\"{AlicePassword}\"}}");
        var token = auth["token"]!.GetValue<string>();
        Assert.False(string.IsNullOrEmpty(token));

        // A restart (the state came back from the backend and the snapshots) keeps users, roles and the flag.
        m.Kill();
        await m.StartAsync();
        await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
        Assert.Contains("v", (await Etcdctl.OkAsync(at, alice, "get", "app/k")).Stdout);
        Assert.Contains("etcdserver: permission denied", (await Etcdctl.RunAsync(at, alice, "get", "secret")).Stderr);

        Assert.Contains("Authentication Disabled", (await Etcdctl.OkAsync(at, root, "auth", "disable")).Stdout);
        Assert.Contains("s1", (await Etcdctl.OkAsync(at, "get", "secret")).Stdout);

        // No clear password anywhere in the data directory (WAL, snapshots, backend) nor in the log.
        foreach (var file in Directory.EnumerateFiles(m.DataDir, "*", SearchOption.AllDirectories))
        {
            var bytes = await File.ReadAllBytesAsync(file);
            foreach (var pw in new[] { RootPassword, AlicePassword })
                Assert.True(bytes.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(pw)) < 0, $"{file} holds a clear password");
        }
        Assert.DoesNotContain(RootPassword, m.Output);
        Assert.DoesNotContain(AlicePassword, m.Output);
    }
}
