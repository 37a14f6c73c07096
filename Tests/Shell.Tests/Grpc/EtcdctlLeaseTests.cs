using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;

namespace Raft.Shell.Tests.Grpc;

/// <summary>
/// etcdctl 3.4's lease commands against <c>raft serve</c>: grant, put --lease, keep-alive,
/// timetolive --keys, list, revoke, each checked against the JSON gateway; expiry on three
/// members (the keys vanish at one revision everywhere) and across a killed leader.
/// </summary>
[Collection(ProcessCollection.Name)]
public class EtcdctlLeaseTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    private static string LeaseId(EtcdctlResult grant) =>
        // "lease 694d5765fc71500b granted with TTL(60s)"
        grant.Stdout.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];

    private static long Dec(string hex) => long.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    private static async Task<JsonNode> RangeAsync(Member m, string key) =>
        await GatewayJson.PostAsync(m, "/v3/kv/range", $"{{\"key\":\"{GatewayClient.B64(key)}\"}}");

    [Fact]
    public async Task EtcdctlGrantsAttachesKeepsAliveListsAndRevokes()
    {
        Etcdctl.Require();
        using var cluster = new ProcessCluster(1, "--heartbeat-interval", "20", "--election-timeout", "200");
        var m = await EtcdctlSingleMemberTests.StartAsync(cluster);
        string[] at = [m.ClientUrl];

        var grant = await Etcdctl.OkAsync(at, "lease", "grant", "60");
        Assert.Contains("granted with TTL(60s)", grant.Stdout);
        var id = LeaseId(grant);
        await Etcdctl.OkAsync(at, "put", "--lease=" + id, "leased/a", "1");
        await Etcdctl.OkAsync(at, "put", "--lease=" + id, "leased/b", "2");
        await Etcdctl.OkAsync(at, "put", "plain", "3");
        var missing = await Etcdctl.RunAsync(at, "put", "--lease=1234", "x", "y");
        Assert.False(missing.Ok);
        Assert.Contains("requested lease not found", missing.Stderr);

        // The key's lease as etcdctl and the gateway print it.
        var got = await Etcdctl.OkAsync(at, "get", "leased/a", "-w", "json");
        Assert.Equal(Dec(id).ToString(CultureInfo.InvariantCulture), Etcdctl.Normalize(got.Json["kvs"]![0]!["lease"]).Trim('"'));
        Assert.Equal(Etcdctl.Normalize((await RangeAsync(m, "leased/a"))["kvs"]), Etcdctl.Normalize(got.Json["kvs"]));

        var ttl = await Etcdctl.OkAsync(at, "lease", "timetolive", id, "--keys", "-w", "json");
        Assert.Equal(60, ttl.Json["granted-ttl"]!.GetValue<long>());
        Assert.InRange(ttl.Json["ttl"]!.GetValue<long>(), 1, 60);
        Assert.Equal(["leased/a", "leased/b"], ttl.Json["keys"]!.AsArray().Select(k => GatewayClient.Text(k!.GetValue<string>())));
        var gwTtl = await GatewayJson.PostAsync(m, "/v3/lease/timetolive", $"{{\"ID\":\"{Dec(id)}\",\"keys\":true}}");
        Assert.Equal("60", gwTtl["grantedTTL"]!.GetValue<string>());
        Assert.Equal(ttl.Json["keys"]!.ToJsonString(), gwTtl["keys"]!.ToJsonString());

        var kept = await Etcdctl.OkAsync(at, "lease", "keep-alive", "--once", id);
        Assert.Contains($"lease {id} keepalived with TTL(60)", kept.Stdout);

        var list = await Etcdctl.OkAsync(at, "lease", "list");
        Assert.Contains("found 1 leases", list.Stdout);
        Assert.Contains(id, list.Stdout);
        var gwList = await GatewayJson.PostAsync(m, "/v3/lease/leases", "{}");
        Assert.Equal(Dec(id).ToString(CultureInfo.InvariantCulture), gwList["leases"]![0]!["ID"]!.GetValue<string>());

        var revoked = await Etcdctl.OkAsync(at, "lease", "revoke", id);
        Assert.Contains("revoked", revoked.Stdout);
        Assert.Null((await RangeAsync(m, "leased/a"))["kvs"]);
        Assert.Null((await RangeAsync(m, "leased/b"))["kvs"]);
        Assert.NotNull((await RangeAsync(m, "plain"))["kvs"]);
        var gone = await Etcdctl.OkAsync(at, "lease", "timetolive", id, "-w", "json");
        Assert.Equal(-1, gone.Json["ttl"]!.GetValue<long>());

        // A short lease through the gateway expires by itself, its key with it.
        var shortLease = await GatewayJson.PostAsync(m, "/v3/lease/grant", "{\"TTL\":\"2\"}");
        var shortId = shortLease["ID"]!.GetValue<string>();
        await GatewayJson.PostAsync(m, "/v3/kv/put", $"{{\"key\":\"{GatewayClient.B64("short")}\",\"value\":\"{GatewayClient.B64("x")}\",\"lease\":\"{shortId}\"}}");
        Assert.NotNull((await RangeAsync(m, "short"))["kvs"]);
        await Wait.UntilAsync("the short lease's key to vanish", Generous, async () => (await RangeAsync(m, "short"))["kvs"] is null, cluster.Diagnostics);
        var expired = await GatewayJson.PostAsync(m, "/v3/lease/timetolive", $"{{\"ID\":\"{shortId}\"}}");
        Assert.Equal("-1", expired["TTL"]!.GetValue<string>());
    }

    [Fact]
    public async Task OnThreeMembersExpiredKeysVanishAtOneRevisionAndALeaseOutlivesAKilledLeader()
    {
        Etcdctl.Require();
        using var cluster = new ProcessCluster(3, "--heartbeat-interval", "50", "--election-timeout", "500");
        var leader = await EtcdctlSingleMemberTests.StartAsync(cluster);
        var follower = cluster.Members.First(x => x != leader);

        // Time-to-live with keys through a follower: the TTL from the leader, the keys its own.
        var held = LeaseId(await Etcdctl.OkAsync([follower.ClientUrl], "lease", "grant", "60"));
        await Etcdctl.OkAsync([follower.ClientUrl], "put", "--lease=" + held, "held/1", "h");
        var heldTtl = await Etcdctl.OkAsync([follower.ClientUrl], "lease", "timetolive", held, "--keys", "-w", "json");
        Assert.Equal(60, heldTtl.Json["granted-ttl"]!.GetValue<long>());
        Assert.InRange(heldTtl.Json["ttl"]!.GetValue<long>(), 1, 60);
        Assert.Equal(["held/1"], heldTtl.Json["keys"]!.AsArray().Select(k => GatewayClient.Text(k!.GetValue<string>())));
        await Etcdctl.OkAsync([follower.ClientUrl], "lease", "revoke", held);

        // Granted and used through a follower: it forwards keep-alives and time-to-live to the leader.
        var id = LeaseId(await Etcdctl.OkAsync([follower.ClientUrl], "lease", "grant", "3"));
        await Etcdctl.OkAsync([follower.ClientUrl], "put", "--lease=" + id, "gone/1", "a");
        await Etcdctl.OkAsync([follower.ClientUrl], "put", "--lease=" + id, "gone/2", "b");
        var kept = await Etcdctl.OkAsync([follower.ClientUrl], "lease", "keep-alive", "--once", id);
        Assert.Contains("keepalived with TTL(3)", kept.Stdout);
        var before = long.Parse((await RangeAsync(leader, "gone/1"))["header"]!["revision"]!.GetValue<string>(), CultureInfo.InvariantCulture);

        // Nothing else is written: the revoke is the next revision, on every member.
        foreach (var m in cluster.Members)
        {
            await Wait.UntilAsync($"the lease's keys to vanish on {m}", Generous, async () =>
                (await RangeAsync(m, "gone/1"))["kvs"] is null && (await RangeAsync(m, "gone/2"))["kvs"] is null, cluster.Diagnostics);
            Assert.Equal((before + 1).ToString(CultureInfo.InvariantCulture), (await RangeAsync(m, "gone/1"))["header"]!["revision"]!.GetValue<string>());
        }

        // A 10 s lease; the leader is killed; the key stays for at least what was left of the lease.
        var granted = Stopwatch.StartNew();
        var live = LeaseId(await Etcdctl.OkAsync([leader.ClientUrl], "lease", "grant", "10"));
        await Etcdctl.OkAsync([leader.ClientUrl], "put", "--lease=" + live, "live", "x");
        leader.Kill();
        var remaining = TimeSpan.FromSeconds(10) - granted.Elapsed;
        var rest = cluster.Members.Where(x => x != leader).ToList();
        var next = await cluster.WaitForLeaderAsync(Generous, rest);
        while (granted.Elapsed < TimeSpan.FromSeconds(10) - TimeSpan.FromSeconds(0.5))
        {
            foreach (var m in rest)
                Assert.True((await RangeAsync(m, "live"))["kvs"] is not null, $"the key vanished {granted.Elapsed} after a 10 s grant, before its TTL ran out (leader killed with {remaining} left)");
            await Task.Delay(200);
        }
        var ttl = await Etcdctl.OkAsync([next.ClientUrl], "lease", "timetolive", live, "-w", "json");
        Assert.Equal(10, ttl.Json["granted-ttl"]!.GetValue<long>());
        await Wait.UntilAsync("the lease to expire under the new leader", Generous, async () =>
            (await RangeAsync(next, "live"))["kvs"] is null, cluster.Diagnostics);
    }
}
