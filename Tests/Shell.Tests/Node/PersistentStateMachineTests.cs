using System.Text;
using Raft.Interop;
using Raft.Shell;
using Raft.Shell.Node;
using Raft.Shell.Storage;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Node;

/// <summary>
/// A state machine that persists itself (<see cref="IPersistentStateMachine"/>, here the
/// file-backed <see cref="FileStateMachine"/>): replay after its durable index, snapshots that
/// carry no state, a checkpoint streamed to a follower behind a compacted log, readiness, and
/// --force-new-cluster keeping what it applied.
/// </summary>
public class PersistentStateMachineTests(ITestOutputHelper output)
{
    private static ReadOnlyMemory<byte> Bytes(string s) => Encoding.UTF8.GetBytes(s);

    private static IEnumerable<string> Commands(string prefix, int count) => Enumerable.Range(0, count).Select(i => $"{prefix}{i}");

    [Fact]
    public async Task ARestartAppliesOnlyTheEntriesAfterTheDurableIndex()
    {
        await using var c = new NodeCluster(1);
        var store = c.DataDir("store");
        var first = new FileStateMachine(store, commitEvery: 10);
        var node = await c.StartWithAsync("m1", first);
        foreach (var cmd in Commands("c", 25))
            await node.ProposeAsync(Bytes(cmd));
        await c.StopAsync("m1");

        var again = new FileStateMachine(store, commitEvery: 10);
        // Twenty applies were committed to the store; the last five only to the WAL.
        Assert.Equal(Commands("c", 20), again.Items);
        var durable = again.DurableAppliedIndex;
        node = await c.StartWithAsync("m1", again);
        await node.WhenReadyAsync().WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(Commands("c", 25), again.Items);
        Assert.Equal(5, again.ApplyCalls.Count);
        Assert.All(again.ApplyCalls, i => Assert.True(i > durable, $"entry {i} applied again at or before the durable index {durable}"));
        Assert.Equal(26, await node.ProposeAsync(Bytes("after")));
    }

    [Fact]
    public async Task SnapshotsMakeTheStoreDurableCarryNoStateAndLetTheWalGo()
    {
        await using var c = new NodeCluster(1, snapshotCount: 10, catchUp: 2);
        var store = c.DataDir("store");
        // Commits only when the node asks: before each snapshot.
        var sm = new FileStateMachine(store, commitEvery: 0);
        var o = c.Options("m1");
        o.MaxSnapFiles = 2;
        var node = await c.StartWithAsync("m1", sm, o);
        foreach (var cmd in Commands("s", 45))
            await node.ProposeAsync(Bytes(cmd));
        await SingleNodeTests.WaitUntil(() => node.Status.SnapshotIndex >= 30);
        var snapshotIndex = node.Status.SnapshotIndex;
        // The first snapshot came at about index 11 (proposals are applied one at a time), so the one
        // at 30 or more is another. More may be folded into fewer: a snapshot due while one is
        // still being taken waits for it, and then covers everything applied meanwhile.
        Assert.True(sm.Persists >= 2, $"{sm.Persists} persists for snapshots up to {snapshotIndex}");
        // The store was durable at the snapshot before the raft loop had it.
        Assert.True(FileStateMachine.Load(sm.StorePath).Applied >= snapshotIndex);
        var snapDir = NodeStorage.SnapDir(c.DataDir("m1"));
        await SingleNodeTests.WaitUntil(() => Directory.GetFiles(snapDir, "*.snap").Length <= 2);
        // A snapshot holds the membership, not the 45 commands.
        Assert.All(Directory.GetFiles(snapDir, "*.snap"), f => Assert.True(new FileInfo(f).Length < 2048, $"{f}: {new FileInfo(f).Length} bytes"));
        await c.StopAsync("m1");

        var again = new FileStateMachine(store, commitEvery: 0);
        node = await c.StartWithAsync("m1", again);
        await node.WhenReadyAsync().WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(Commands("s", 45), again.Items);
        Assert.All(again.ApplyCalls, i => Assert.True(i > again.DurableAppliedIndex));
    }

    [Fact]
    public async Task AFollowerBehindACompactionInstallsAStreamedCheckpoint()
    {
        await using var c = new NodeCluster(3, snapshotCount: 20, catchUp: 5);
        var machines = new Dictionary<string, FileStateMachine>();
        foreach (var n in new[] { "m1", "m2", "m3" })
            machines[n] = new FileStateMachine(c.DataDir("store-" + n), commitEvery: 7);
        await Task.WhenAll(machines.Select(kv => c.StartWithAsync(kv.Key, kv.Value)));
        var leader = await c.LeaderAsync();
        var down = c.Nodes.First(kv => kv.Value != leader).Key;
        var leaderName = c.Nodes.First(kv => kv.Value == leader).Key;
        await c.StopAsync(down);
        foreach (var cmd in Commands("k", 100))
            await leader.ProposeAsync(Bytes(cmd));
        // The leader's log no longer holds what the follower lacks.
        await SingleNodeTests.WaitUntil(() => leader.Status.SnapshotIndex > 20);

        var behind = new FileStateMachine(c.DataDir("store-" + down), commitEvery: 7);
        Assert.True(behind.Items.Count < 10, $"the stopped member already held {behind.Items.Count} commands");
        machines[down] = behind;
        var node = await c.StartWithAsync(down, behind);
        await SingleNodeTests.WaitUntil(() => behind.Items.Count == 100, 20_000);
        Assert.Equal(1, behind.Installs);
        Assert.True(machines[leaderName].CheckpointsStreamed >= 1);
        Assert.Equal(machines[leaderName].Items, behind.Items);
        // It did not apply what the checkpoint held.
        Assert.True(behind.ApplyCalls.Count < 100 - 20, $"{behind.ApplyCalls.Count} entries applied after the checkpoint");
        // The installed store is durable with its index, and no temporary file is left.
        Assert.True(FileStateMachine.Load(behind.StorePath).Applied >= node.Status.SnapshotIndex);
        Assert.Empty(Directory.GetFiles(NodeStorage.SnapDir(c.DataDir(down)), "*.tmp"));
        await SingleNodeTests.WaitUntil(() => node.Status.SnapshotIndex > 0);

        // It keeps following, and it restarts from its store.
        await leader.ProposeAsync(Bytes("after"));
        await SingleNodeTests.WaitUntil(() => machines.Values.All(m => m.Items.Count == 101), 15_000);
        await c.StopAsync(down);
        var reopened = new FileStateMachine(c.DataDir("store-" + down), commitEvery: 7);
        node = await c.StartWithAsync(down, reopened);
        await node.WhenReadyAsync().WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(machines[leaderName].Items, reopened.Items);
    }

    /// <summary>
    /// etcd's readiness: a member that replays slowly answers no read, linearizable or not, before
    /// it has applied what it had applied before it stopped.
    /// </summary>
    [Fact]
    public async Task NoReadIsAnsweredBeforeTheReplayReachesWhatWasAppliedBeforeTheStop()
    {
        await using var c = new NodeCluster(1);
        var store = c.DataDir("store");
        // Never commits on its own: the restart replays everything from the WAL.
        var first = new FileStateMachine(store, commitEvery: 0);
        var node = await c.StartWithAsync("m1", first);
        foreach (var cmd in Commands("r", 40))
            await node.ProposeAsync(Bytes(cmd));
        var appliedBefore = node.AppliedIndex;
        await c.StopAsync("m1");

        var slow = new FileStateMachine(store, commitEvery: 0) { ApplyDelay = TimeSpan.FromMilliseconds(25) };
        node = await c.StartWithAsync("m1", slow);
        Assert.False(node.IsReady, "ready before replaying anything");
        ulong appliedAtRead = 0;
        var read = node.ReadIndexAsync().ContinueWith(t =>
        {
            appliedAtRead = slow.AppliedIndex;
            return t;
        }, TaskScheduler.Default).Unwrap();
        ulong appliedAtReady = 0;
        var ready = node.WhenReadyAsync().ContinueWith(_ => appliedAtReady = slow.AppliedIndex, TaskScheduler.Default);
        await Task.WhenAll(read, ready).WaitAsync(TimeSpan.FromSeconds(20));
        output.WriteLine($"applied before the stop {appliedBefore}, at readiness {appliedAtReady}, at the read {appliedAtRead}");
        Assert.True(node.IsReady);
        Assert.True(appliedAtReady >= appliedBefore, $"ready at {appliedAtReady}, before {appliedBefore}");
        Assert.True(appliedAtRead >= appliedBefore, $"read answered at {appliedAtRead}, before {appliedBefore}");
        Assert.Equal(Commands("r", 40), slow.Items);
    }

    /// <summary>
    /// The report: 50 puts acknowledged by the leader of three, every member down at once, the
    /// leader restarted with --force-new-cluster. The last commit index the WAL wrote went without
    /// a sync and is lost (here by a power cut, which loses what was not synced); the entries it
    /// covered are in the WAL. The restart dropped entries past the WAL's commit index, among them
    /// the last acknowledged put; the store's applied index now keeps them.
    /// </summary>
    [Fact]
    public async Task ForceNewClusterKeepsEveryEntryThePersistentStateMachineApplied()
    {
        await using var c = new NodeCluster(3);
        var disks = new PowerCutMembers(c, output);
        var machines = new Dictionary<string, FileStateMachine>();
        foreach (var n in new[] { "m1", "m2", "m3" })
            machines[n] = new FileStateMachine(c.DataDir("store-" + n));
        await Task.WhenAll(machines.Select(kv => c.StartWithAsync(kv.Key, kv.Value, disks.Options(kv.Key))));
        var leader = await c.LeaderAsync();
        var name = c.Nodes.First(kv => kv.Value == leader).Key;
        foreach (var cmd in Commands("p", 50))
            await leader.ProposeAsync(Bytes(cmd));
        await Task.Delay(1000);
        var acknowledged = machines[name].Items;
        Assert.Equal(Commands("p", 50), acknowledged);
        var durable = machines[name].AppliedIndex;
        await disks.CutAllAsync();

        // What the WAL kept: every entry, and a commit index behind the last one applied.
        var state = disks.ReadWal(name);
        output.WriteLine($"the WAL kept commit {state.HardState.Commit}, last entry {state.Entries[^1].Index}; the store applied {durable}");
        Assert.True(state.HardState.Commit < durable, $"the WAL kept commit {state.HardState.Commit}: the power cut did not lose the last commit index (applied {durable})");
        Assert.True(state.Entries[^1].Index >= durable);

        var forced = new FileStateMachine(c.DataDir("store-" + name));
        var node = await c.StartWithAsync(name, forced, disks.Options(name, forceNewCluster: true));
        await node.WhenReadyAsync().WaitAsync(TimeSpan.FromSeconds(15));
        await SingleNodeTests.WaitUntil(() => node.Status.Role == NodeRole.Leader);
        await node.ProposeAsync(Bytes("after"));
        Assert.Equal(acknowledged.Append("after"), forced.Items);
        await c.StopAsync(name);

        // The raft log still holds the last acknowledged put at the index the store applied it:
        // dropped, its index would go to a forced conf change, and a member that catches up from
        // the log would never apply the put.
        state = disks.ReadWal(name);
        var entry = state.Entries.Single(e => e.Index == durable);
        Assert.Equal(EntryKindOfLog.Normal, CoreAdapter.KindOf(entry.Type));
        var (kind, _, payload) = EntryData.Parse(entry.Data);
        Assert.Equal(EntryKind.Command, kind);
        Assert.Equal("p49", Encoding.UTF8.GetString(payload.Span));
    }
}
