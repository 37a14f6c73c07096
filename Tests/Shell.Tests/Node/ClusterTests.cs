using System.Text;
using Raft.Interop;
using Raft.Shell.Node;

namespace Raft.Shell.Tests.Node;

public class ClusterTests
{
    private static ReadOnlyMemory<byte> Bytes(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task ThreeMembersElectReplicateAndSurviveAFollowerRestart()
    {
        await using var c = new NodeCluster(3);
        await c.StartAllAsync();
        var leader = await c.LeaderAsync();
        Assert.All(c.Nodes.Values, n => Assert.Equal(leader.ClusterId, n.ClusterId));
        // Writes through the leader and through a follower (which forwards them).
        var follower = c.Nodes.First(kv => kv.Value != leader);
        for (var i = 0; i < 10; i++)
            await leader.ProposeAsync(Bytes($"l{i}"));
        for (var i = 0; i < 10; i++)
            await follower.Value.ProposeAsync(Bytes($"f{i}"));
        await c.ConvergedAsync(20);
        Assert.All(c.Machines.Values, m => Assert.Equal(c.Machines[follower.Key].Items, m.Items));
        await SingleNodeTests.WaitUntil(() => c.Nodes.Values.All(n => n.Members.Count == 3 && n.Members.All(m => m.Name.Length > 0)));

        var down = follower.Key;
        await c.StopAsync(down);
        for (var i = 0; i < 10; i++)
            await leader.ProposeAsync(Bytes($"x{i}"));
        await c.StartAsync(down);
        await c.ConvergedAsync(30);
        Assert.Equal(c.Machines[down].Items, c.Machines.First(kv => kv.Key != down).Value.Items);
    }

    [Fact]
    public async Task AFollowerBehindACompactionCatchesUpBySnapshot()
    {
        await using var c = new NodeCluster(3, snapshotCount: 20, catchUp: 5);
        await c.StartAllAsync();
        var leader = await c.LeaderAsync();
        var down = c.Nodes.First(kv => kv.Value != leader).Key;
        await c.StopAsync(down);
        for (var i = 0; i < 100; i++)
            await leader.ProposeAsync(Bytes($"c{i}"));
        // The leader's log no longer holds what the follower lacks, and the leader has taken the last
        // snapshot due (applied at most snapshotCount past it): a later one, taken while the follower
        // installs this one, would compact past it again and send a second (right, but not this test).
        await SingleNodeTests.WaitUntil(() => leader.Status.SnapshotIndex > 20 && leader.AppliedIndex <= leader.Status.SnapshotIndex + 20);
        await c.StartAsync(down);
        await c.ConvergedAsync(100);
        Assert.Equal(1, c.Machines[down].Restores);
        Assert.Equal(c.Machines.First(kv => kv.Key != down).Value.Items, c.Machines[down].Items);
        await SingleNodeTests.WaitUntil(() => c.Nodes[down].Status.SnapshotIndex > 0);
        // It keeps following after the snapshot.
        await leader.ProposeAsync(Bytes("after"));
        await c.ConvergedAsync(101);
    }

    [Fact]
    public async Task LinearizableReadOnAFollowerSeesEveryAcknowledgedWrite()
    {
        await using var c = new NodeCluster(3);
        await c.StartAllAsync();
        var leader = await c.LeaderAsync();
        var followers = c.Nodes.Where(kv => kv.Value != leader).ToArray();
        for (var i = 0; i < 20; i++)
        {
            await leader.ProposeAsync(Bytes($"w{i}"));
            var (name, follower) = followers[i % 2];
            await follower.ReadIndexAsync();
            Assert.Equal($"w{i}", c.Machines[name].Items[^1]);
        }
        // Concurrent readers share ReadIndex rounds and all complete.
        await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => followers[0].Value.ReadIndexAsync()));
    }

    [Fact]
    public async Task LeadershipMovesOnRequest()
    {
        await using var c = new NodeCluster(3);
        await c.StartAllAsync();
        var leader = await c.LeaderAsync();
        var target = c.Nodes.Values.First(n => n != leader);
        var changes = new List<LeaderChangedEventArgs>();
        target.LeaderChanged += (_, e) => { lock (changes) changes.Add(e); };
        await leader.TransferLeadershipAsync(target.MemberId);
        await SingleNodeTests.WaitUntil(() => target.Status.Role == NodeRole.Leader);
        await SingleNodeTests.WaitUntil(() => { lock (changes) return changes.Any(e => e.Leader == target.MemberId); });
        Assert.IsType<int>(await target.ProposeAsync(Bytes("new leader")));
    }

    [Fact]
    public async Task MembersAreRemovedWithoutDeadlockAndTheRemovedOneStops()
    {
        await using var c = new NodeCluster(3);
        await c.StartAllAsync();
        var leader = await c.LeaderAsync();
        await SingleNodeTests.WaitUntil(() => c.Nodes.Values.All(n => n.Members.All(m => m.Name.Length > 0)));
        var (goneName, gone) = c.Nodes.First(kv => kv.Value != leader);
        // Load while the conf change commits: followers wait for their apply loop after committing
        // it, and the apply loop needs the runner to apply it.
        using var stop = new CancellationTokenSource();
        var load = Task.Run(async () =>
        {
            var i = 0;
            while (!stop.IsCancellationRequested)
                await leader.ProposeAsync(Bytes($"p{i++}"));
        });
        await SingleNodeTests.WaitUntil(() => leader.Status.Term > 0 && c.Nodes.Count == 3);
        await RetryUnhealthy(() => leader.RemoveMemberAsync(gone.MemberId));
        await gone.Stopped.WaitAsync(TimeSpan.FromSeconds(10));
        stop.Cancel();
        await load;
        lock (c.Nodes)
            c.Nodes.Remove(goneName);
        // Every remaining member applied the change and keeps applying.
        await SingleNodeTests.WaitUntil(() => c.Nodes.Values.All(n => n.Members.Count == 2 && n.Cluster.IsRemoved(gone.MemberId)));
        await leader.ProposeAsync(Bytes("end"));
        var count = c.Machines[c.Nodes.Keys.First()].Items.Count;
        await c.ConvergedAsync(c.Machines[c.Nodes.Keys.First(n => c.Nodes[n] == leader)].Items.Count);
        var ex = await Assert.ThrowsAsync<RaftException>(() => gone.ProposeAsync(Bytes("x")));
        Assert.Equal(RaftErrorCode.Stopped, ex.Code);
        Assert.True(count > 0);

        // The removed member does not come back with its data: it refuses to start when its log
        // holds its removal, and otherwise the others turn it away and it stops (as etcd does).
        try
        {
            var again = await RaftNode.StartAsync(c.Options(goneName), new ListStateMachine());
            await again.Stopped.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Throws<RaftException>(() => again.ProposeAsync(Bytes("y")).GetAwaiter().GetResult());
        }
        catch (NodeStartException e)
        {
            Assert.Contains("removed", e.Message);
        }
    }

    /// <summary>Strict reconfiguration checks wait for peers connected a health interval; retry until then.</summary>
    private static async Task RetryUnhealthy(Func<Task> change, params RaftErrorCode[] alsoRetry)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await change();
                return;
            }
            catch (RaftException e) when ((e.Code == RaftErrorCode.Unhealthy || alsoRetry.Contains(e.Code)) && attempt < 300)
            {
                await Task.Delay(50);
            }
        }
    }

    [Fact]
    public async Task StrictReconfigurationRefusesWhilePeersAreNotKnownHealthy()
    {
        await using var c = new NodeCluster(3) { HealthIntervalMs = 600_000 };
        await c.StartAllAsync();
        var leader = await c.LeaderAsync();
        var other = c.Nodes.Values.First(n => n != leader);
        // A peer the leader has not reached yet counts as down, and a down member may be removed (as
        // in etcd's mayRemoveMember): wait until the leader reaches every peer.
        await SingleNodeTests.WaitUntil(() => c.Nodes.Values.Where(n => n != leader).All(n => leader.PeerTransport.ActiveSince(n.MemberId) is not null));
        var ex = await Assert.ThrowsAsync<RaftException>(() => leader.RemoveMemberAsync(other.MemberId));
        Assert.Equal(RaftErrorCode.Unhealthy, ex.Code);
        var add = await Assert.ThrowsAsync<RaftException>(() => leader.AddMemberAsync(["http://127.0.0.1:1"], isLearner: false));
        Assert.Equal(RaftErrorCode.Unhealthy, add.Code);
        Assert.Equal(3, leader.Members.Count);
    }

    [Fact]
    public async Task AMemberAddedThroughTheApiJoinsAndALearnerIsPromoted()
    {
        await using var c = new NodeCluster(3);
        await c.StartAllAsync();
        var leader = await c.LeaderAsync();
        for (var i = 0; i < 5; i++)
            await leader.ProposeAsync(Bytes($"b{i}"));

        // A voter: added first, then started with the others' peer URLs and state "existing".
        var m4 = c.Options("m4");
        var added = await RetryUnhealthyValue(() => leader.AddMemberAsync([m4.InitialAdvertisePeerUrls], isLearner: false));
        Assert.False(added.IsLearner);
        Assert.Equal("", added.Name);
        m4.InitialCluster = c.InitialCluster + ",m4=" + m4.InitialAdvertisePeerUrls;
        m4.InitialClusterState = "existing";
        var n4 = await c.StartAsync("m4", m4);
        Assert.Equal(added.Id, n4.MemberId);
        Assert.Equal(leader.ClusterId, n4.ClusterId);
        await leader.ProposeAsync(Bytes("after-join"));
        await c.ConvergedAsync(6);
        await SingleNodeTests.WaitUntil(() => c.Nodes.Values.All(n => n.Members.Count == 4 && n.Members.All(m => m.Name.Length > 0)));

        // A learner: it cannot be promoted by a follower, and is promoted by the leader once caught up.
        var m5 = c.Options("m5");
        var learner = await leader.AddMemberAsync([m5.InitialAdvertisePeerUrls], isLearner: true);
        Assert.True(learner.IsLearner);
        m5.InitialCluster = c.InitialCluster + ",m4=" + m4.InitialAdvertisePeerUrls + ",m5=" + m5.InitialAdvertisePeerUrls;
        m5.InitialClusterState = "existing";
        var n5 = await c.StartAsync("m5", m5);
        await c.ConvergedAsync(6);
        // The status is the runner's last published node, which may trail the apply loop briefly.
        await SingleNodeTests.WaitUntil(() => n5.Status.IsLearner);
        var notLeader = await Assert.ThrowsAsync<RaftException>(() => n4.PromoteMemberAsync(learner.Id));
        Assert.Equal(RaftErrorCode.NotLeader, notLeader.Code);
        // Only the leader can tell whether the learner caught up; leadership may move meanwhile.
        await RetryUnhealthy(async () => await (await c.LeaderAsync()).PromoteMemberAsync(learner.Id), RaftErrorCode.NotLeader, RaftErrorCode.LearnerNotReady);
        await SingleNodeTests.WaitUntil(() => c.Nodes.Values.All(n => n.Members.Single(m => m.Id == learner.Id).IsLearner == false));
        await SingleNodeTests.WaitUntil(() => !n5.Status.IsLearner);
        // Five voters now replicate.
        await (await c.LeaderAsync()).ProposeAsync(Bytes("five"));
        await c.ConvergedAsync(7);
        var exists = await Assert.ThrowsAsync<RaftException>(async () => await (await c.LeaderAsync()).AddMemberAsync([m5.InitialAdvertisePeerUrls], isLearner: true));
        Assert.Equal(RaftErrorCode.PeerUrlExists, exists.Code);
    }

    private static async Task<T> RetryUnhealthyValue<T>(Func<Task<T>> change)
    {
        T result = default!;
        await RetryUnhealthy(async () => result = await change());
        return result;
    }

    [Fact]
    public async Task ForceNewClusterRestartsOneMemberAloneWithTheData()
    {
        await using var c = new NodeCluster(3);
        await c.StartAllAsync();
        var leader = await c.LeaderAsync();
        for (var i = 0; i < 10; i++)
            await leader.ProposeAsync(Bytes($"d{i}"));
        await c.ConvergedAsync(10);
        var survivor = c.Nodes.Keys.First();
        foreach (var name in c.Nodes.Keys.ToArray())
            await c.StopAsync(name);

        var options = c.Options(survivor);
        options.ForceNewCluster = true;
        var alone = await c.StartAsync(survivor, options);
        await SingleNodeTests.WaitUntil(() => alone.Status.Role == NodeRole.Leader);
        Assert.Equal(11, await alone.ProposeAsync(Bytes("alone")));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"d{i}").Append("alone"), c.Machines[survivor].Items);
        var member = Assert.Single(alone.Members);
        Assert.Equal(alone.MemberId, member.Id);
    }
}
