using System.Text;
using System.Text.Json.Nodes;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;

namespace Raft.Shell.Tests.Grpc;

/// <summary>
/// etcdctl 3.4 against one <c>raft serve</c> process over gRPC, every answer compared with what the
/// JSON gateway (the same handlers, over HTTP/1.1 on the same port) answers for the same state.
/// </summary>
[Collection(ProcessCollection.Name)]
public class EtcdctlSingleMemberTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    /// <summary>One etcdctl get: its flags, and the same request as the gateway's JSON body.</summary>
    private sealed record Get(string Key, string? End = null, bool Prefix = false, bool FromKey = false, long Limit = 0, long Rev = 0,
        string? SortBy = null, string? Order = null, bool KeysOnly = false, bool Serializable = false)
    {
        public string[] Args()
        {
            var a = new List<string> { "get", Key };
            if (End is not null) a.Add(End);
            if (Prefix) a.Add("--prefix");
            if (FromKey) a.Add("--from-key");
            if (Limit > 0) a.Add($"--limit={Limit}");
            if (Rev > 0) a.Add($"--rev={Rev}");
            if (SortBy is not null) a.Add($"--sort-by={SortBy}");
            if (Order is not null) a.Add($"--order={Order}");
            if (KeysOnly) a.Add("--keys-only");
            if (Serializable) a.Add("--consistency=s");
            return [.. a];
        }

        public string Body()
        {
            // clientv3's WithFromKey reads an empty key as "\0" (every key).
            var body = new JsonObject { ["key"] = FromKey && Key.Length == 0 ? "AA==" : B64(Key) };
            var end = End is not null ? Encoding.UTF8.GetBytes(End) : Prefix ? PrefixEnd(Key) : FromKey ? [0] : null;
            if (end is not null) body["range_end"] = Convert.ToBase64String(end);
            if (Limit > 0) body["limit"] = Limit.ToString();
            if (Rev > 0) body["revision"] = Rev.ToString();
            if (SortBy is not null) body["sort_target"] = SortBy switch { "KEY" => "KEY", "VERSION" => "VERSION", "CREATE" => "CREATE", "MODIFY" => "MOD", _ => "VALUE" };
            if (Order is not null) body["sort_order"] = Order;
            if (KeysOnly) body["keys_only"] = true;
            if (Serializable) body["serializable"] = true;
            return body.ToJsonString();
        }

        private static byte[] PrefixEnd(string key)
        {
            var b = Encoding.UTF8.GetBytes(key);
            for (var i = b.Length - 1; i >= 0; i--)
                if (b[i] < 0xff)
                {
                    b[i]++;
                    return b[..(i + 1)];
                }
            return [0];
        }
    }

    private static string B64(string s) => GatewayClient.B64(s);

    private static async Task<string> GatewayErrorAsync(Member m, string path, string body)
    {
        var r = await m.Client.PostAsync(path, body);
        Assert.True(r is { Ok: false }, $"gateway {path} {body} should fail: {r}");
        return r!.Json.GetProperty("message").GetString()!;
    }

    internal static async Task<Member> StartAsync(ProcessCluster cluster)
    {
        await cluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync(Generous);
        await Wait.UntilAsync("health", Generous, async () => (await leader.Client.GetAsync("/health")) is { Ok: true }, cluster.Diagnostics);
        return leader;
    }

    [Fact]
    public async Task EtcdctlKvAnswersAsTheGatewayDoes()
    {
        Etcdctl.Require();
        using var cluster = new ProcessCluster(1, "--heartbeat-interval", "20", "--election-timeout", "200");
        var m = await StartAsync(cluster);
        string[] at = [m.ClientUrl];

        foreach (var (k, v) in new[] { ("a", "1"), ("b", "22"), ("c", "3"), ("foo", "x"), ("foo/1", "y"), ("foo/2", "z"), ("b", "2") })
            Assert.Equal("OK", (await Etcdctl.OkAsync(at, "put", k, v)).Stdout.Trim());

        // put --prev-kv: the pair before, as the gateway showed it, and the revision the gateway sees after.
        var before = await GatewayJson.PostAsync(m, "/v3/kv/range", new Get("foo").Body());
        var put = await Etcdctl.OkAsync(at, "put", "foo", "x2", "--prev-kv", "-w", "json");
        var after = await GatewayJson.PostAsync(m, "/v3/kv/range", new Get("foo").Body());
        Assert.Equal(Etcdctl.Normalize(before["kvs"]![0]), Etcdctl.Normalize(put.Json["prev_kv"]));
        Assert.Equal(Etcdctl.Normalize(after["header"]), Etcdctl.Normalize(put.Json["header"]));

        var revision = long.Parse(after["header"]!["revision"]!.GetValue<string>());
        Get[] gets =
        [
            new("a"), new("a", End: "c"), new("foo", Prefix: true), new("", FromKey: true),
            new("", FromKey: true, Limit: 2), new("foo", Prefix: true, Rev: revision),
            new("", FromKey: true, SortBy: "MODIFY", Order: "DESCEND"), new("", FromKey: true, SortBy: "VALUE", Order: "ASCEND", Limit: 3),
            new("", FromKey: true, SortBy: "CREATE", Order: "DESCEND"), new("", FromKey: true, SortBy: "VERSION", Order: "DESCEND", Limit: 1),
            new("", FromKey: true, SortBy: "KEY", Order: "DESCEND"), new("foo", Prefix: true, KeysOnly: true),
            new("", FromKey: true, Serializable: true), new("nothing"),
        ];
        foreach (var g in gets)
        {
            var ctl = await Etcdctl.OkAsync(at, [.. g.Args(), "-w", "json"]);
            var gw = await GatewayJson.PostAsync(m, "/v3/kv/range", g.Body());
            Assert.True(Etcdctl.Normalize(gw) == Etcdctl.Normalize(ctl.Json), $"{ctl.CommandLine}\netcdctl: {ctl.Stdout}\ngateway: {gw.ToJsonString()}");
        }

        // --print-value-only: the values the gateway returns, one a line.
        var values = await Etcdctl.OkAsync(at, "get", "foo", "--prefix", "--print-value-only");
        var gwValues = (await GatewayJson.PostAsync(m, "/v3/kv/range", new Get("foo", Prefix: true).Body()))["kvs"]!.AsArray()
            .Select(kv => GatewayClient.Text(kv!["value"]!.GetValue<string>()));
        Assert.Equal(gwValues.ToArray(), values.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        // Errors: etcd's text, as the gateway reports it.
        var emptyKey = await Etcdctl.RunAsync(at, "put", "", "x");
        Assert.False(emptyKey.Ok, emptyKey.ToString());
        Assert.Contains(await GatewayErrorAsync(m, "/v3/kv/put", $"{{\"key\":\"\",\"value\":\"{B64("x")}\"}}"), emptyKey.Stderr);
        var future = await Etcdctl.RunAsync(at, [.. new Get("a", Rev: revision + 100).Args()]);
        Assert.False(future.Ok, future.ToString());
        Assert.Contains(await GatewayErrorAsync(m, "/v3/kv/range", new Get("a", Rev: revision + 100).Body()), future.Stderr);

        // del --prefix --prev-kv: what the gateway held before, and nothing after.
        var held = await GatewayJson.PostAsync(m, "/v3/kv/range", new Get("foo", Prefix: true).Body());
        var del = await Etcdctl.OkAsync(at, "del", "foo", "--prefix", "--prev-kv", "-w", "json");
        Assert.Equal(Etcdctl.Normalize(held["kvs"]), Etcdctl.Normalize(del.Json["prev_kvs"]));
        Assert.Equal(held["count"]!.GetValue<string>(), Etcdctl.Normalize(del.Json["deleted"]).Trim('"'));
        Assert.Null((await GatewayJson.PostAsync(m, "/v3/kv/range", new Get("foo", Prefix: true).Body()))["kvs"]);
        var single = await Etcdctl.OkAsync(at, "del", "a");
        Assert.Equal("1", single.Stdout.Trim());
    }

    [Fact]
    public async Task EtcdctlClusterAndMaintenanceAnswerAsTheGatewayDoes()
    {
        Etcdctl.Require();
        using var cluster = new ProcessCluster(1, "--heartbeat-interval", "20", "--election-timeout", "200");
        var m = await StartAsync(cluster);
        string[] at = [m.ClientUrl];
        await Etcdctl.OkAsync(at, "put", "k", "v");

        var list = await Etcdctl.OkAsync(at, "member", "list", "-w", "json");
        var gwList = await GatewayJson.PostAsync(m, "/v3/cluster/member/list", "{}");
        Assert.Equal(Etcdctl.Normalize(gwList), Etcdctl.Normalize(list.Json));

        var status = await Etcdctl.OkAsync(at, "endpoint", "status", "-w", "json");
        var gwStatus = await GatewayJson.PostAsync(m, "/v3/maintenance/status", "{}");
        // The database grows as the store commits (LMDB's file), so its size is compared apart.
        Assert.Equal(Etcdctl.Normalize(gwStatus, "dbSize", "dbSizeInUse"), Etcdctl.Normalize(status.Json[0]!["Status"], "dbSize", "dbSizeInUse"));
        Assert.True(status.Json[0]!["Status"]!["dbSize"]!.GetValue<long>() > 0, status.Stdout);

        var health = await Etcdctl.OkAsync(at, "endpoint", "health");
        Assert.Contains("is healthy", health.Stdout + health.Stderr);

        var alarms = await Etcdctl.OkAsync(at, "alarm", "list");
        Assert.Equal("", alarms.Stdout.Trim());

        // HashKV twice at one revision: one hash; after a put, the revision moves.
        var h1 = (await Etcdctl.OkAsync(at, "endpoint", "hashkv", "-w", "json")).Json[0]!["HashKV"]!;
        var h2 = (await Etcdctl.OkAsync(at, "endpoint", "hashkv", "-w", "json")).Json[0]!["HashKV"]!;
        Assert.Equal(Etcdctl.Normalize(h1), Etcdctl.Normalize(h2));
        await Etcdctl.OkAsync(at, "put", "k", "v2");
        var h3 = (await Etcdctl.OkAsync(at, "endpoint", "hashkv", "-w", "json")).Json[0]!["HashKV"]!;
        Assert.NotEqual(Etcdctl.Normalize(h1["hash"]), Etcdctl.Normalize(h3["hash"]));
    }
}
