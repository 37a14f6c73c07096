using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Raft.Kv.Auth;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;

namespace Raft.Shell.Tests.Grpc;

/// <summary>
/// Three <c>raft serve</c> members with etcd's JWT tokens (<c>--auth-token jwt,...</c>): a token from
/// one member is taken by the others, expired and forged ones are refused, and a user whose role
/// is limited to a prefix is held to it in every service — KV, txn, watch, lease, maintenance,
/// cluster — through etcdctl 3.4 and the JSON gateway.
/// </summary>
[Collection(ProcessCollection.Name)]
public class AuthServicesTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);
    private const string RootPassword = "root-pw-31";
    private const string AlicePassword = "alice-pw-47";

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    // A gateway call with the token in the Authorization header (grpc-gateway's way), answering the status and the JSON.
    private static async Task<(int Status, JsonNode Body)> PostAsync(Member m, string path, string body, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, m.ClientUrl + path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (token is not null) request.Headers.TryAddWithoutValidation("Authorization", token);
        using var response = await Http.SendAsync(request);
        return ((int)response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    private static Task<(int Status, JsonNode Body)> PutAsync(Member m, string key, string value, string? token) =>
        PostAsync(m, "/v3/kv/put", $"{{\"key\":\"{GatewayClient.B64(key)}\",\"value\":\"{GatewayClient.B64(value)}\"}}", token);

    private static async Task<string> TokenAsync(Member m, string user, string password)
    {
        var (status, body) = await PostAsync(m, "/v3/auth/authenticate", $"{{\"name\":\"{user}\",\"password\":\"{password}\"}}", null);
        Assert.True(status == 200, $"authenticate on {m.Name}: {status} {body}");
        return body["token"]!.GetValue<string>();
    }

    private static void Refused(EtcdctlResult r, string error)
    {
        Assert.False(r.Ok, r.ToString());
        Assert.Contains(error, r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Jwt_tokens_work_on_every_member_and_a_prefix_role_is_held_to_its_prefix_in_every_service()
    {
        Etcdctl.Require();
        using var keys = new TempDir();
        using var rsa = RSA.Create(2048);
        var priv = keys.Sub("jwt.key");
        var pub = keys.Sub("jwt.pub");
        await File.WriteAllTextAsync(priv, rsa.ExportRSAPrivateKeyPem());
        await File.WriteAllTextAsync(pub, rsa.ExportSubjectPublicKeyInfoPem());
        using var cluster = new ProcessCluster("127.0.24.1", 3, "--heartbeat-interval", "20", "--election-timeout", "200", "--bcrypt-cost", "4",
            "--auth-token", $"jwt,pub-key={pub},priv-key={priv},sign-method=RS256,ttl=10m");
        await cluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync(Generous);
        var (m1, m2, m3) = (cluster["m1"], cluster["m2"], cluster["m3"]);
        string[] at1 = [m1.ClientUrl], at2 = [m2.ClientUrl];
        var root = $"--user=root:{RootPassword}";
        var alice = $"--user=alice:{AlicePassword}";

        await Etcdctl.OkAsync(at1, "user", "add", "root", "--new-user-password=" + RootPassword);
        await Etcdctl.OkAsync(at1, "user", "add", "alice", "--new-user-password=" + AlicePassword);
        await Etcdctl.OkAsync(at1, "role", "add", "app");
        await Etcdctl.OkAsync(at1, "role", "grant-permission", "app", "readwrite", "app/", "--prefix=true");
        await Etcdctl.OkAsync(at1, "user", "grant-role", "alice", "app");
        await Etcdctl.OkAsync(at1, "put", "other", "o");
        await Etcdctl.OkAsync(at1, "auth", "enable");

        // A JWT from m1 (etcd's claims), taken by m2 and m3, which only hold the same key.
        var token = await TokenAsync(m1, "alice", AlicePassword);
        var claims = JsonNode.Parse(System.Buffers.Text.Base64Url.DecodeFromChars(token.Split('.')[1]))!;
        Assert.Equal("alice", claims["username"]!.GetValue<string>());
        var revision = claims["revision"]!.GetValue<ulong>();
        Assert.True(claims["exp"]!.GetValue<long>() > DateTimeOffset.UtcNow.AddMinutes(9).ToUnixTimeSeconds(), claims.ToJsonString());
        var put = await PutAsync(m2, "app/jwt", "from-m2", token);
        Assert.True(put.Status == 200, put.Body.ToJsonString());
        var range = await PostAsync(m3, "/v3/kv/range", $"{{\"key\":\"{GatewayClient.B64("app/jwt")}\"}}", token);
        Assert.Equal(GatewayClient.B64("from-m2"), range.Body["kvs"]![0]!["value"]!.GetValue<string>());
        var outside = await PutAsync(m3, "other", "x", token);
        Assert.Equal("etcdserver: permission denied", outside.Body["message"]!.GetValue<string>());

        // Expired (signed with the cluster's own key) and forged (another key, claiming root): etcd's invalid auth token.
        var signer = new JwtTokens("RS256", null, Encoding.ASCII.GetBytes(await File.ReadAllTextAsync(priv)), TimeSpan.FromMinutes(1));
        var expired = signer.Sign("alice", revision, DateTimeOffset.UtcNow.AddSeconds(-5).ToUnixTimeSeconds());
        using var otherKey = RSA.Create(2048);
        var forged = new JwtTokens("RS256", null, Encoding.ASCII.GetBytes(otherKey.ExportRSAPrivateKeyPem()), TimeSpan.FromMinutes(10)).Assign("root", revision, "", 0)!;
        foreach (var (name, bad) in new[] { ("expired", expired), ("forged", forged), ("garbage", "not.a.jwt") })
        {
            var r = await PutAsync(m2, "app/bad", "x", bad);
            Assert.True(r.Body["message"]?.GetValue<string>() == "etcdserver: invalid auth token", $"{name} token: {r.Status} {r.Body}");
            Assert.Equal(16, r.Body["code"]!.GetValue<int>());
        }

        // dotnet-etcd over gRPC: m1's token in the metadata of calls to m3; etcd's status codes and texts.
        using (var c1 = new dotnet_etcd.EtcdClient(m1.ClientUrl))
        using (var c3 = new dotnet_etcd.EtcdClient(m3.ClientUrl))
        {
            var grpcToken = (await c1.AuthenticateAsync(new Etcdserverpb.AuthenticateRequest { Name = "alice", Password = AlicePassword })).Token;
            var md = new global::Grpc.Core.Metadata { { "token", grpcToken } };
            await c3.PutAsync("app/dotnet", "v", md);
            Assert.Equal("v", await c3.GetValAsync("app/dotnet", md));
            var denied = await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(() => c3.PutAsync("other", "x", md));
            Assert.Equal((global::Grpc.Core.StatusCode.PermissionDenied, "etcdserver: permission denied"), (denied.StatusCode, denied.Status.Detail));
            var stale = await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(() => c3.GetValAsync("app/dotnet", new global::Grpc.Core.Metadata { { "token", expired } }));
            Assert.Equal((global::Grpc.Core.StatusCode.Unauthenticated, "etcdserver: invalid auth token"), (stale.StatusCode, stale.Status.Detail));
        }

        // KV and txn (compares need read): inside app/ only.
        Assert.Contains("from-m2", (await Etcdctl.OkAsync(at2, alice, "get", "app/jwt")).Stdout);
        Refused(await Etcdctl.RunAsync(at2, alice, "get", "other"), "etcdserver: permission denied");
        Refused(await Etcdctl.RunWithInputAsync(at2, "value(\"other\") = \"o\"\n\nput app/t yes\n\n\n", alice, "txn"), "etcdserver: permission denied");
        Assert.Contains("SUCCESS", (await Etcdctl.RunWithInputAsync(at2, "value(\"app/jwt\") = \"from-m2\"\n\nput app/t yes\n\n\n", alice, "txn")).Stdout);
        Refused(await Etcdctl.RunWithInputAsync(at2, "value(\"app/jwt\") = \"from-m2\"\n\nput app/t yes\n\nput other no\n\n", alice, "txn"), "etcdserver: permission denied");

        // Lease: grant and keep-alive need nothing; revoke needs write on the lease's keys, time-to-live --keys read on them.
        var mine = LeaseId((await Etcdctl.OkAsync(at2, alice, "lease", "grant", "60")).Stdout);
        await Etcdctl.OkAsync(at2, alice, "put", "app/leased", "v", "--lease=" + mine);
        var roots = LeaseId((await Etcdctl.OkAsync(at2, root, "lease", "grant", "60")).Stdout);
        await Etcdctl.OkAsync(at2, root, "put", "other-leased", "v", "--lease=" + roots);
        Refused(await Etcdctl.RunAsync(at2, alice, "lease", "revoke", roots), "etcdserver: permission denied");
        Refused(await Etcdctl.RunAsync(at2, alice, "lease", "timetolive", roots, "--keys"), "etcdserver: permission denied");
        Refused(await Etcdctl.RunAsync(at2, alice, "put", "app/x", "v", "--lease=" + roots), "etcdserver: permission denied");
        Assert.Contains("app/leased", (await Etcdctl.OkAsync(at2, alice, "lease", "timetolive", mine, "--keys")).Stdout);
        await Etcdctl.OkAsync(at2, alice, "lease", "keep-alive", "--once", mine);
        await Etcdctl.OkAsync(at2, alice, "lease", "revoke", mine);
        Assert.Contains("other-leased", (await Etcdctl.OkAsync(at2, root, "get", "other-leased")).Stdout);

        // Maintenance and cluster: root only, but for status and the member list (as etcd).
        await Etcdctl.OkAsync(at2, alice, "endpoint", "status");
        await Etcdctl.OkAsync(at2, alice, "member", "list");
        Refused(await Etcdctl.RunAsync(at2, alice, "endpoint", "hashkv"), "etcdserver: permission denied");
        Refused(await Etcdctl.RunAsync(at2, alice, "snapshot", "save", keys.Sub("snap.db")), "etcdserver: permission denied");
        Refused(await Etcdctl.RunAsync([leader.ClientUrl], alice, "move-leader", m1 == leader ? m2.Id.ToString("x") : m1.Id.ToString("x")), "etcdserver: permission denied");
        Refused(await Etcdctl.RunAsync(at2, alice, "member", "add", "m4", "--peer-urls=http://127.0.24.1:1"), "etcdserver: permission denied");
        Refused(await Etcdctl.RunAsync(at2, alice, "compaction", "1"), "etcdserver: permission denied");
        await Etcdctl.OkAsync(at2, root, "endpoint", "hashkv");

        // Watch (gRPC through etcdctl, and the gateway): a create outside app/ is answered canceled with etcd's reason.
        Refused(await Etcdctl.RunAsync(at2, alice, "watch", "other"), "permission denied");
        var fresh = await TokenAsync(m3, "alice", AlicePassword);
        // (etcdctl's alarm disarm only clears alarms it lists: with none raised it sends nothing to refuse.)
        var disarm = await PostAsync(m2, "/v3/maintenance/alarm", $"{{\"action\":\"DEACTIVATE\",\"memberID\":\"{m1.Id}\",\"alarm\":\"NOSPACE\"}}", fresh);
        Assert.True(disarm.Body["message"]?.GetValue<string>() == "etcdserver: permission denied", disarm.Body.ToJsonString());
        var refused = JsonNode.Parse(await FirstWatchAnswerAsync(m2, "other", fresh))!["result"]!;
        Assert.True(refused["canceled"]?.GetValue<bool>() == true && refused["cancel_reason"]?.GetValue<string>() == "etcdserver: permission denied", refused.ToJsonString());
        var created = JsonNode.Parse(await FirstWatchAnswerAsync(m2, "app/", fresh, rangeEnd: "app0"))!["result"]!;
        Assert.True(created["created"]?.GetValue<bool>() == true && created["canceled"] is null, created.ToJsonString());

        // The auth revision travels with the token: after any auth change the old token is refused as
        // old (clients authenticate again, as etcdctl does on every run), and a new one works anywhere.
        await Etcdctl.OkAsync(at1, root, "role", "grant-permission", "app", "read", "shared/", "--prefix=true");
        await Wait.UntilAsync("m2 to apply the grant", Generous, async () =>
            (await PutAsync(m2, "app/jwt", "again", token)).Body["message"]?.GetValue<string>() == "etcdserver: revision of auth store is old");
        var renewed = await TokenAsync(m3, "alice", AlicePassword);
        Assert.Equal(200, (await PutAsync(m1, "app/jwt", "renewed", renewed)).Status);
        Assert.Contains("renewed", (await Etcdctl.OkAsync(at2, alice, "get", "app/jwt")).Stdout);
    }

    private static string LeaseId(string grantOutput)
    {
        // "lease 694d77aa9e38f00a granted with TTL(60s)"
        var parts = grantOutput.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(parts.Length > 2 && parts[0] == "lease", grantOutput);
        return parts[1];
    }

    // The gateway's /v3/watch: the first answer to one create request.
    private static async Task<string> FirstWatchAnswerAsync(Member m, string key, string token, string rangeEnd = "")
    {
        var body = $"{{\"create_request\":{{\"key\":\"{GatewayClient.B64(key)}\"{(rangeEnd.Length > 0 ? $",\"range_end\":\"{GatewayClient.B64(rangeEnd)}\"" : "")}}}}}";
        using var request = new HttpRequestMessage(HttpMethod.Post, m.ClientUrl + "/v3/watch") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Authorization", token);
        using var cts = new CancellationTokenSource(Generous);
        using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        return await reader.ReadLineAsync(cts.Token) ?? "";
    }
}
