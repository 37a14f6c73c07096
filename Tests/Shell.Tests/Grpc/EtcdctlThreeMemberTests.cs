using System.Text.Json.Nodes;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Node;
using Raft.Shell.Tests.Storage;

namespace Raft.Shell.Tests.Grpc;

/// <summary>
/// etcdctl 3.4 against a three-member cluster of <c>raft serve</c> processes: writes through a
/// follower, membership changes (learner add, update, promote refused, remove), endpoint status and
/// HashKV on every member, and move-leader, each checked against the JSON gateway.
/// </summary>
[Collection(ProcessCollection.Name)]
public class EtcdctlThreeMemberTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task EtcdctlDrivesAThreeMemberClusterAsTheGatewaySeesIt()
    {
        Etcdctl.Require();
        using var cluster = new ProcessCluster(3, "--heartbeat-interval", "50", "--election-timeout", "500");
        var leader = await EtcdctlSingleMemberTests.StartAsync(cluster);
        var follower = cluster.Members.First(m => m != leader);
        var all = cluster.Members.Select(m => m.ClientUrl).ToArray();

        // A write through a follower, read back linearizably from every member.
        await Etcdctl.OkAsync([follower.ClientUrl], "put", "through", "follower");
        foreach (var m in cluster.Members)
        {
            var got = await Etcdctl.OkAsync([m.ClientUrl], "get", "through", "-w", "json");
            var gw = await GatewayJson.PostAsync(m, "/v3/kv/range", $"{{\"key\":\"{GatewayClient.B64("through")}\"}}");
            Assert.Equal(Etcdctl.Normalize(gw["kvs"]), Etcdctl.Normalize(got.Json["kvs"]));
        }

        // Endpoint status of each member: the leader and term its gateway reports.
        var statuses = (await Etcdctl.OkAsync(all, "endpoint", "status", "-w", "json")).Json.AsArray();
        Assert.Equal(3, statuses.Count);
        foreach (var s in statuses)
        {
            var m = cluster.Members.Single(x => x.ClientUrl == s!["Endpoint"]!.GetValue<string>());
            var gw = await GatewayJson.PostAsync(m, "/v3/maintenance/status", "{}");
            Assert.Equal(Etcdctl.Normalize(gw["leader"]), Etcdctl.Normalize(s!["Status"]!["leader"]));
            Assert.Equal(Etcdctl.Normalize(gw["raftTerm"]), Etcdctl.Normalize(s["Status"]!["raftTerm"]));
            Assert.Equal(Etcdctl.Normalize(gw["header"]!["member_id"]), Etcdctl.Normalize(s["Status"]!["header"]!["member_id"]));
        }

        // HashKV: every member at one revision answers one hash (retried until all have applied it).
        await Wait.UntilAsync("equal HashKV on every member", Generous, async () =>
        {
            var hashes = (await Etcdctl.OkAsync(all, "endpoint", "hashkv", "-w", "json")).Json.AsArray()
                .Select(h => (Rev: Etcdctl.Normalize(h!["HashKV"]!["header"]!["revision"]), Hash: Etcdctl.Normalize(h["HashKV"]!["hash"]))).ToList();
            return hashes.Select(h => h.Rev).Distinct().Count() == 1 && hashes.Select(h => h.Hash).Distinct().Count() == 1;
        }, cluster.Diagnostics);

        // Member list from etcdctl equals the gateway's.
        var list = await Etcdctl.OkAsync([leader.ClientUrl], "member", "list", "-w", "json");
        Assert.Equal(Etcdctl.Normalize((await GatewayJson.PostAsync(leader, "/v3/cluster/member/list", "{}"))["members"]),
            Etcdctl.Normalize(list.Json["members"]));

        // A learner that never starts: added, its URLs updated, its promotion refused, removed.
        var peer = NodeCluster.Url(NodeCluster.FreePort());
        var add = await Etcdctl.OkAsync([leader.ClientUrl], "member", "add", "learner", "--peer-urls=" + peer, "--learner", "-w", "json");
        var learnerId = add.Json["member"]!["ID"]!.GetValue<ulong>();
        Assert.True(add.Json["member"]!["isLearner"]!.GetValue<bool>(), add.Stdout);
        JsonNode? Learner(JsonNode l) => l["members"]!.AsArray().SingleOrDefault(x => ulong.Parse(Etcdctl.Normalize(x!["ID"]).Trim('"')) == learnerId);
        Assert.Equal(Etcdctl.Normalize(Learner(await GatewayJson.PostAsync(leader, "/v3/cluster/member/list", "{}"))), Etcdctl.Normalize(add.Json["member"]));

        var newPeer = NodeCluster.Url(NodeCluster.FreePort());
        var update = await Etcdctl.OkAsync([leader.ClientUrl], "member", "update", learnerId.ToString("x"), "--peer-urls=" + newPeer);
        Assert.Contains("updated", update.Stdout);
        var updated = Learner(await GatewayJson.PostAsync(leader, "/v3/cluster/member/list", "{}"));
        Assert.Equal(newPeer, updated!["peerURLs"]![0]!.GetValue<string>());

        var promote = await Etcdctl.RunAsync([leader.ClientUrl], "member", "promote", learnerId.ToString("x"));
        Assert.False(promote.Ok, promote.ToString());
        var gwPromote = await leader.Client.PostAsync("/v3/cluster/member/promote", $"{{\"ID\":\"{learnerId}\"}}");
        Assert.True(gwPromote is { Ok: false }, $"gateway promote: {gwPromote}");
        Assert.Contains(gwPromote!.Json.GetProperty("message").GetString()!, promote.Stderr);

        await Etcdctl.OkAsync([leader.ClientUrl], "member", "remove", learnerId.ToString("x"));
        Assert.Null(Learner(await GatewayJson.PostAsync(leader, "/v3/cluster/member/list", "{}")));

        // move-leader: etcdctl finds the leader among the endpoints and asks it to hand over.
        var target = cluster.Members.First(m => m != leader);
        var move = await Etcdctl.OkAsync(all, "move-leader", target.Id.ToString("x"));
        Assert.Contains("transferred", move.Stdout);
        Assert.Same(target, await cluster.WaitForLeaderAsync(Generous));
    }
}
