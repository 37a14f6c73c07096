using System.Diagnostics;
using Raft.Shell.Tests.Storage;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.EndToEnd;

/// <summary>
/// Three <c>raft serve</c> processes on loopback with etcd's timing (heartbeat 100 ms, election
/// timeout 1 s): election, writes through any member, linearizable reads on followers, the leader
/// killed, members restarted and caught up (also by snapshot), and membership changed through the API.
/// </summary>
[Collection(ProcessCollection.Name)]
public class ThreeMemberTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Election = ProcessCluster.ElectionTimeout;

    [Fact]
    public async Task ElectsALeaderTakesWritesThroughAnyMemberAndReadsLinearizablyOnFollowers()
    {
        using var cluster = new ProcessCluster(3);
        await cluster.StartAsync();
        var sw = Stopwatch.StartNew();
        // A fresh cluster fast-forwards its first election timeout (etcd's adjustTicks).
        var leader = await cluster.WaitForLeaderAsync(5 * Election);
        output.WriteLine($"leader {leader} agreed on {sw.ElapsedMilliseconds} ms after all three served");

        foreach (var m in cluster.Members)
            await ProcessCluster.PutEventuallyAsync(m, $"through/{m.Name}", m.Name, Generous);
        foreach (var m in cluster.Members)
        {
            var all = await m.Client.PrefixAsync("through/");
            Assert.Equal(cluster.Members.ToDictionary(x => $"through/{x.Name}", x => x.Name), all);
        }

        // A write acknowledged by any member is seen by a linearizable read on a follower that starts
        // after it (the follower asks the leader for a ReadIndex and waits to apply up to it).
        var followers = cluster.Members.Where(m => m != leader).ToArray();
        for (var i = 0; i < 30; i++)
        {
            var writer = cluster.Members[i % 3];
            var reader = followers[i % 2];
            var put = await writer.Client.PutAsync("latest", $"v{i}");
            Assert.True(put is { Ok: true }, $"put {i} through {writer.Name}: {put}\n{cluster.Diagnostics()}");
            Assert.Equal($"v{i}", await reader.Client.GetValueAsync("latest"));
        }
    }

    [Fact]
    public async Task ANewLeaderTakesOverAndTheKilledMembersCatchUpAfterRestartAlsoBySnapshot()
    {
        // Snapshots every 100 applied entries, keeping 20 for slow followers: a member that misses a
        // few hundred writes can only be caught up by a snapshot.
        using var cluster = new ProcessCluster(3, "--snapshot-count", "100", "--experimental-snapshot-catchup-entries", "20");
        await cluster.StartAsync();
        var oldLeader = await cluster.WaitForLeaderAsync(5 * Election);
        for (var i = 0; i < 20; i++)
            await ProcessCluster.PutEventuallyAsync(cluster.Members[i % 3], $"before/{i:D3}", $"b{i}", Generous);

        // SIGKILL the leader: the other two elect one of themselves and keep taking writes.
        oldLeader.Kill();
        var sw = Stopwatch.StartNew();
        var survivors = cluster.Members.Where(m => m != oldLeader).ToArray();
        var newLeader = await cluster.WaitForLeaderAsync(10 * Election, survivors, not: oldLeader);
        output.WriteLine($"new leader {newLeader} {sw.ElapsedMilliseconds} ms after the leader was killed");
        for (var i = 0; i < 20; i++)
        {
            var put = await survivors[i % 2].Client.PutAsync($"after/{i:D3}", $"a{i}");
            Assert.True(put is { Ok: true }, $"put through {survivors[i % 2].Name}: {put}\n{cluster.Diagnostics()}");
        }

        // The old leader restarts as a follower and catches up from the new leader's log.
        await oldLeader.StartAsync();
        await WaitCaughtUpAsync(cluster, oldLeader, newLeader);
        Assert.Equal(await newLeader.Client.PrefixAsync("after/"), await oldLeader.Client.PrefixAsync("after/", serializable: true));

        // Kill a follower, write well past a snapshot and the entries kept after it, restart it:
        // the leader no longer has the entries it misses and must send a snapshot.
        var lagging = cluster.Members.First(m => m != newLeader);
        var before = await lagging.Client.StatusAsync();
        Assert.NotNull(before);
        lagging.Kill();
        var writers = cluster.Members.Where(m => m != lagging).ToArray();
        using (var stop = new CancellationTokenSource())
        {
            var load = new PutLoad(new());
            var running = load.RunAsync(writers[0].Client, "load/", clients: 8, stop.Token);
            await Wait.UntilAsync("300 acknowledged puts", Generous, () => Task.FromResult(load.Acknowledged >= 300), cluster.Diagnostics);
            stop.Cancel();
            await running;
        }
        var leaderStatus = await newLeader.Client.StatusAsync();
        Assert.True(leaderStatus!.RaftIndex > before.RaftIndex + 120, $"the leader is at {leaderStatus.RaftIndex}, the follower was at {before.RaftIndex}");

        await lagging.StartAsync();
        await WaitCaughtUpAsync(cluster, lagging, newLeader);
        Assert.Contains("applied incoming Raft snapshot", lagging.Process!.Output);
        var snapIndex = await SnapshotIndexAsync(lagging);
        Assert.True(snapIndex > before.RaftIndex, $"snapshot index {snapIndex} is not past the follower's index {before.RaftIndex} at the kill");
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(lagging.DataDir, "member", "snap"), "*.snap"));
        foreach (var prefix in new[] { "before/", "after/", "load/" })
            Assert.Equal(await newLeader.Client.PrefixAsync(prefix), await lagging.Client.PrefixAsync(prefix, serializable: true));

        // All three answer writes again.
        foreach (var m in cluster.Members)
            await ProcessCluster.PutEventuallyAsync(m, $"end/{m.Name}", "x", Generous);
    }

    [Fact]
    public async Task AddsAFourthMemberAndRemovesOneThroughTheApi()
    {
        using var cluster = new ProcessCluster(3);
        await cluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync(5 * Election);
        for (var i = 0; i < 10; i++)
            await ProcessCluster.PutEventuallyAsync(cluster.Members[i % 3], $"k/{i:D2}", $"v{i}", Generous);

        // Add m4 through a follower. With --strict-reconfig-check (the default) the cluster refuses
        // until every voter has been connected for a while; retry until it accepts.
        var follower = cluster.Members.First(m => m != leader);
        var m4 = cluster.NewMember("m4");
        var added = await Wait.ForAsync("member add to be accepted", 2 * Generous, async () =>
        {
            var r = await follower.Client.MemberAddAsync(m4.PeerUrl);
            return r is { Ok: true } ? r : null;
        }, cluster.Diagnostics);
        var newId = GatewayClient.U64(added.Json.GetProperty("member"), "ID");
        Assert.Equal(4, added.Json.GetProperty("members").GetArrayLength());

        cluster.Members.Add(m4);
        m4.InitialCluster = ProcessCluster.InitialCluster(cluster.Members);
        m4.ClusterState = "existing";
        await m4.StartAsync();
        Assert.Equal(newId, m4.Id);
        Assert.Equal(cluster.Members[0].ClusterId, m4.ClusterId);
        await WaitCaughtUpAsync(cluster, m4, leader);
        Assert.Equal(await leader.Client.PrefixAsync("k/"), await m4.Client.PrefixAsync("k/", serializable: true));
        await ProcessCluster.PutEventuallyAsync(m4, "through/m4", "yes", Generous);
        // m4 published its name: every member lists it.
        await Wait.UntilAsync("every member to list m4 by name", Generous, async () =>
        {
            foreach (var m in cluster.Members)
                if (await m.Client.MemberListAsync() is not { Ok: true } r || !r.Body.Contains("\"name\":\"m4\"", StringComparison.Ordinal))
                    return false;
            return true;
        }, cluster.Diagnostics);

        // Remove a first-generation follower through m4; the removed member stops by itself.
        var removed = cluster.Members.First(m => m != leader && m != m4);
        var reply = await Wait.ForAsync("member remove to be accepted", 2 * Generous, async () =>
        {
            var r = await m4.Client.MemberRemoveAsync(removed.Id);
            return r is { Ok: true } ? r : null;
        }, cluster.Diagnostics);
        var ids = reply.Json.GetProperty("members").EnumerateArray().Select(e => GatewayClient.U64(e, "ID")).ToHashSet();
        Assert.Equal(cluster.Members.Where(m => m != removed).Select(m => m.Id).ToHashSet(), ids);
        Assert.True(await removed.Process!.WaitForExitAsync(Generous), $"{removed.Name} still runs after its removal:\n{removed.Output}");
        Assert.Contains("permanently removed from the cluster", removed.Output);

        var remaining = cluster.Members.Where(m => m != removed).ToArray();
        await cluster.WaitForLeaderAsync(10 * Election, remaining);
        foreach (var m in remaining)
            await ProcessCluster.PutEventuallyAsync(m, $"after-remove/{m.Name}", "x", Generous);
        foreach (var m in remaining)
            Assert.Equal(3, (await m.Client.PrefixAsync("after-remove/"))!.Count);
    }

    [Fact]
    public async Task EveryAcknowledgedPutSurvivesSigkillsOfLeadersAndFollowersUnderLoad()
    {
        using var cluster = new ProcessCluster(3, "--snapshot-count", "300", "--experimental-snapshot-catchup-entries", "50");
        await cluster.StartAsync();
        await cluster.WaitForLeaderAsync(5 * Election);
        var ledger = new System.Collections.Concurrent.ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        // The kill timing and the followers killed come from the run's seed, so a failure replays.
        var random = TestSeed.NewRandom(output.WriteLine);
        var kills = cluster.Members.ToDictionary(m => m, _ => 0);
        const int cycles = 6;
        for (var cycle = 0; cycle < cycles; cycle++)
        {
            // Even cycles kill the leader, odd ones a follower (the one killed least so far, so every
            // member's disk gets its turn), while 8 clients put through another member.
            var leader = await cluster.WaitForLeaderAsync(10 * Election);
            var followers = cluster.Members.Where(m => m != leader).OrderBy(m => kills[m]).ThenBy(_ => random.Next()).ToArray();
            var victim = cycle % 2 == 0 ? leader : followers[0];
            kills[victim]++;
            var entry = cluster.Members.First(m => m != victim && (cycle % 2 == 0 || m != leader));
            using var stop = new CancellationTokenSource();
            var load = new PutLoad(ledger);
            var running = load.RunAsync(entry.Client, $"k{cycle}-", clients: 8, stop.Token);
            await Task.Delay(random.Next(200, 600));
            var inFlight = load.Sent - load.Acknowledged - load.Unanswered;
            victim.Kill();
            // Writes go on through the survivors (after a new election when the leader died).
            var acknowledgedAtKill = load.Acknowledged;
            await Wait.UntilAsync("puts acknowledged after the kill", Generous, () => Task.FromResult(load.Acknowledged > acknowledgedAtKill + 50), cluster.Diagnostics);
            stop.Cancel();
            await running;
            output.WriteLine($"cycle {cycle + 1}: killed {victim.Name}{(victim == leader ? " (leader)" : "")} with {inFlight} puts in flight; {load.Acknowledged} acknowledged, {load.Unanswered} unanswered");
            Assert.True(inFlight > 0, $"the kill came with no put in flight; {TestSeed.Describe}");

            await victim.StartAsync();
            await AssertNothingLostAsync(cluster, ledger);
        }
        Assert.True(kills.Values.All(k => k > 0), $"every member killed at least once: {string.Join(", ", kills.Select(k => $"{k.Key.Name}={k.Value}"))}");

        // Then every member at once, under load: the survivors of the cycles above restart too.
        {
            var leader = await cluster.WaitForLeaderAsync(10 * Election);
            using var stop = new CancellationTokenSource();
            var load = new PutLoad(ledger);
            var running = load.RunAsync(leader.Client, "kall-", clients: 8, stop.Token);
            await Task.Delay(random.Next(200, 600));
            foreach (var m in cluster.Members)
                m.Kill();
            stop.Cancel();
            await running;
            output.WriteLine($"all members killed: {load.Acknowledged} acknowledged, {load.Unanswered} unanswered");
            foreach (var m in cluster.Members)
                await m.StartAsync();
            await AssertNothingLostAsync(cluster, ledger);
        }
        Assert.True(ledger.Count > cycles * 50);
    }

    /// <summary>Every member catches up with the leader and holds every acknowledged put.</summary>
    private static async Task AssertNothingLostAsync(ProcessCluster cluster, System.Collections.Concurrent.ConcurrentDictionary<string, string> ledger)
    {
        var now = await cluster.WaitForLeaderAsync(10 * Election);
        foreach (var m in cluster.Members)
            await WaitCaughtUpAsync(cluster, m, now);
        foreach (var m in cluster.Members)
        {
            var present = await Wait.ForAsync($"a range of every key on {m.Name}", Generous, () => m.Client.PrefixAsync("k", serializable: true), cluster.Diagnostics);
            var lost = PutLoad.Lost(ledger, present);
            Assert.True(lost.Count == 0, $"{m.Name} lost {lost.Count} acknowledged puts, e.g. {string.Join(", ", lost.Take(5))}; {TestSeed.Describe}");
        }
    }

    /// <summary>Waits until <paramref name="m"/> has applied everything <paramref name="leader"/> had committed when the wait began.</summary>
    private static async Task WaitCaughtUpAsync(ProcessCluster cluster, Member m, Member leader)
    {
        var target = (await Wait.ForAsync("the leader's status", Generous, () => leader.Client.StatusAsync(), cluster.Diagnostics)).RaftIndex;
        await Wait.UntilAsync($"{m.Name} to apply up to {target}", 2 * Generous,
            async () => await m.Client.StatusAsync() is { } s && s.AppliedIndex >= target, cluster.Diagnostics);
    }

    /// <summary>The member's snapshot index, from its JSON status page.</summary>
    private static async Task<ulong> SnapshotIndexAsync(Member m)
    {
        var page = await m.Client.GetAsync("/status");
        Assert.True(page is { Ok: true }, $"status page: {page}");
        return GatewayClient.U64(page!.Json, "snapshot_index");
    }
}
