using System.Globalization;
using System.Text.Json.Nodes;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;

namespace Raft.Shell.Tests.Grpc;

/// <summary>
/// etcdctl 3.4 against three <c>raft serve</c> processes: <c>endpoint status</c> fields on every
/// member (alarms among the errors), <c>endpoint hashkv --cluster</c> equal on every member at a
/// revision after writes and a compaction, and etcd's client-side recipes over txn, lease and watch:
/// two <c>etcdctl lock</c> holders exclude each other, a lock whose holder is killed is taken over
/// after its lease expires, and <c>etcdctl elect</c> hands leadership over when the leader's
/// process ends.
/// </summary>
[Collection(ProcessCollection.Name)]
public class EtcdctlMaintenanceClusterTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    // Member ids use all 64 bits: read them unsigned.
    private static ulong U64(JsonNode? n) => n is null ? 0 : ulong.Parse(n.ToJsonString().Trim('"'), CultureInfo.InvariantCulture);

    [Fact]
    public async Task StatusHashKvLockAndElectOnThreeMembers()
    {
        Etcdctl.Require();
        using var cluster = new ProcessCluster(3, "--heartbeat-interval", "50", "--election-timeout", "500");
        var leader = await EtcdctlSingleMemberTests.StartAsync(cluster);
        var all = cluster.Members.Select(m => m.ClientUrl).ToArray();
        var ids = cluster.Members.Select(m => m.Id).ToHashSet();

        for (var i = 0; i < 20; i++)
            await Etcdctl.OkAsync([all[i % 3]], "put", $"k{i % 7}", $"v{i}");
        var compactAt = U64((await Etcdctl.OkAsync([leader.ClientUrl], "get", "k0", "-w", "json")).Json["header"]!["revision"]) - 5;
        await Etcdctl.OkAsync([leader.ClientUrl], "compaction", compactAt.ToString(CultureInfo.InvariantCulture), "--physical");
        await Etcdctl.OkAsync([leader.ClientUrl], "put", "after-compaction", "x");

        // endpoint status: sensible fields on every member, one leader and term among them.
        await Wait.UntilAsync("every member's status to agree on leader, term and applied index", Generous, async () =>
        {
            var statuses = (await Etcdctl.OkAsync(all, "endpoint", "status", "-w", "json")).Json.AsArray().Select(s => s!["Status"]!).ToList();
            Assert.Equal(3, statuses.Count);
            foreach (var s in statuses)
            {
                Assert.False(string.IsNullOrEmpty(s["version"]?.GetValue<string>()), s.ToJsonString());
                Assert.InRange(U64(s["dbSizeInUse"]), 1UL, U64(s["dbSize"]));
                Assert.Contains(U64(s["leader"]), ids);
                Assert.True(U64(s["raftTerm"]) >= 1, s.ToJsonString());
                Assert.InRange(U64(s["raftAppliedIndex"]), 1UL, U64(s["raftIndex"]));
                Assert.Null(s["errors"]);
                Assert.Null(s["isLearner"]);
                Assert.Contains(U64(s["header"]!["member_id"]), ids);
            }
            return statuses.Select(s => U64(s["leader"])).Distinct().Count() == 1
                && statuses.Select(s => U64(s["raftTerm"])).Distinct().Count() == 1
                && statuses.Select(s => U64(s["raftAppliedIndex"])).Distinct().Count() == 1;
        }, cluster.Diagnostics);

        // An alarm is among every member's errors while it is active (etcd's protobuf text of it).
        await GatewayJson.PostAsync(leader, "/v3/maintenance/alarm", $"{{\"action\":\"ACTIVATE\",\"memberID\":\"{leader.Id}\",\"alarm\":\"NOSPACE\"}}");
        await Wait.UntilAsync("the alarm in every member's status", Generous, async () =>
            (await Etcdctl.OkAsync(all, "endpoint", "status", "-w", "json")).Json.AsArray()
                .All(s => s!["Status"]!["errors"]?.AsArray().Any(e => e!.GetValue<string>().Trim() == $"memberID:{leader.Id} alarm:NOSPACE") == true),
            cluster.Diagnostics);
        await Etcdctl.OkAsync([leader.ClientUrl], "alarm", "disarm");

        // endpoint hashkv --cluster (endpoints from the member list): one hash at the newest revision
        // and at one below it but above the compaction, the same compaction revision everywhere.
        foreach (var rev in new[] { 0UL, compactAt + 2 })
        {
            await Wait.UntilAsync($"equal HashKV at revision {rev} on every member", Generous, async () =>
            {
                var hashes = (await Etcdctl.OkAsync([leader.ClientUrl], "endpoint", "hashkv", "--cluster", $"--rev={rev}", "-w", "json")).Json.AsArray()
                    .Select(h => h!["HashKV"]!).ToList();
                Assert.Equal(3, hashes.Count);
                Assert.All(hashes, h => Assert.Equal(compactAt, U64(h["compact_revision"])));
                return hashes.Select(h => U64(h["hash"])).Distinct().Count() == 1
                    && hashes.Select(h => U64(h["header"]!["revision"])).Distinct().Count() == 1;
            }, cluster.Diagnostics);
        }
        var below = await Etcdctl.RunAsync([leader.ClientUrl], "endpoint", "hashkv", $"--rev={compactAt - 1}");
        Assert.Contains("required revision has been compacted", below.Stdout + below.Stderr);

        await LocksExcludeEachOtherAsync(cluster);
        await ElectionHandsOverAsync(cluster);

        // The gateway's MoveLeader (/v3/maintenance/transfer-leadership), the handler etcdctl's
        // move-leader reaches over gRPC: refused by a follower, done by the leader.
        leader = await cluster.WaitForLeaderAsync(Generous);
        var target = cluster.Members.First(m => m != leader);
        var refused = await target.Client.PostAsync("/v3/maintenance/transfer-leadership", $"{{\"targetID\":\"{leader.Id}\"}}");
        Assert.True(refused is { Ok: false } && refused.Body.Contains("etcdserver: not leader"), $"a follower's transfer: {refused}");
        await GatewayJson.PostAsync(leader, "/v3/maintenance/transfer-leadership", $"{{\"targetID\":\"{target.Id}\"}}");
        Assert.Same(target, await cluster.WaitForLeaderAsync(Generous));
    }

    /// <summary>
    /// Two <c>etcdctl lock L -- cmd</c> at once, through different members: each command writes its
    /// start and end times, and the two intervals must not overlap. Then a holder killed with SIGKILL:
    /// a waiter gets the lock once the holder's session lease (--ttl) expires.
    /// </summary>
    private static async Task LocksExcludeEachOtherAsync(ProcessCluster cluster)
    {
        using var dir = new TempDir();
        var log = Path.Combine(dir.Path, "held");
        string[] Held(string who) => ["lock", "mutex", "--", "sh", "-c", $"echo {who} start $(date +%s%N) >> {log}; sleep 1; echo {who} end $(date +%s%N) >> {log}"];
        var a = Etcdctl.OkAsync([cluster.Members[0].ClientUrl], Held("a"));
        var b = Etcdctl.OkAsync([cluster.Members[1].ClientUrl], Held("b"));
        await Task.WhenAll(a, b);
        var lines = (await File.ReadAllLinesAsync(log)).Select(l => l.Split(' ')).Select(p => (Who: p[0], What: p[1], At: long.Parse(p[2], CultureInfo.InvariantCulture))).ToList();
        Assert.Equal(4, lines.Count);
        var intervals = lines.GroupBy(l => l.Who).Select(g => (Start: g.Single(x => x.What == "start").At, End: g.Single(x => x.What == "end").At)).OrderBy(x => x.Start).ToList();
        Assert.True(intervals[0].End <= intervals[1].Start, $"both held the lock at once:\n{string.Join("\n", lines)}");

        // A holder that dies: its key stays until its lease expires, then the waiter's watch fires.
        using var holder = EtcdctlProcess.Start([cluster.Members[2].ClientUrl], "lock", "crash", "--ttl=2");
        Assert.True(await holder.PrintsAsync("crash/", Generous, prefix: true), holder.ToString());
        using var waiter = EtcdctlProcess.Start([cluster.Members[0].ClientUrl], "lock", "crash", "--ttl=2");
        Assert.False(await waiter.PrintsAsync("crash/", TimeSpan.FromSeconds(1), prefix: true), "the lock was taken while held: " + waiter);
        holder.Kill();
        Assert.True(await waiter.PrintsAsync("crash/", Generous, prefix: true), "the lock never passed on after its holder was killed: " + waiter);
    }

    /// <summary>
    /// <c>etcdctl elect</c>: the first candidate leads, an observer (<c>elect -l</c>) prints it, a
    /// second candidate waits; when the leader's process ends on SIGINT (it resigns), the second leads.
    /// </summary>
    private static async Task ElectionHandsOverAsync(ProcessCluster cluster)
    {
        using var first = EtcdctlProcess.Start([cluster.Members[0].ClientUrl], "elect", "office", "alpha");
        Assert.True(await first.PrintsAsync("alpha", Generous), first.ToString());
        using var observer = EtcdctlProcess.Start([cluster.Members[1].ClientUrl], "elect", "-l", "office");
        Assert.True(await observer.PrintsAsync("alpha", Generous), observer.ToString());
        using var second = EtcdctlProcess.Start([cluster.Members[2].ClientUrl], "elect", "office", "beta");
        Assert.False(await second.PrintsAsync("beta", TimeSpan.FromSeconds(1)), "two leaders at once: " + second);

        first.Interrupt();
        Assert.True(await first.ExitsAsync(Generous), first.ToString());
        Assert.True(await second.PrintsAsync("beta", Generous), "no hand-over after the leader's process ended: " + second);
        Assert.True(await observer.PrintsAsync("beta", Generous), observer.ToString());
    }
}
