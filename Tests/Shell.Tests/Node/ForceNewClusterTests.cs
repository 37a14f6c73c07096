using System.Text;
using Raft.Interop;
using Raft.Shell.Node;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Node;

/// <summary>
/// --force-new-cluster over an in-memory state machine (<see cref="ListStateMachine"/>) after every
/// member lost power at once: it keeps every entry the member applied, although no applied index
/// survives the process and the WAL's last commit index, written without a sync, is lost.
/// </summary>
public class ForceNewClusterTests(ITestOutputHelper output)
{
    private static IEnumerable<string> Commands(string prefix, int count) => Enumerable.Range(0, count).Select(i => $"{prefix}{i}");

    /// <summary>
    /// The report, for the in-memory kind: 50 puts acknowledged by the leader of three, a power cut
    /// of every member a second later, the leader restarted with --force-new-cluster. The restart
    /// discarded the entries past the commit index the WAL kept, among them the last acknowledged
    /// put; it now keeps every WAL entry.
    /// </summary>
    [Fact]
    public async Task ForceNewClusterAfterAPowerCutKeepsEveryAcknowledgedPutOfAnInMemoryStateMachine()
    {
        await using var c = new NodeCluster(3);
        var disks = new PowerCutMembers(c, output);
        var machines = new[] { "m1", "m2", "m3" }.ToDictionary(n => n, _ => new ListStateMachine());
        await Task.WhenAll(machines.Select(kv => c.StartWithAsync(kv.Key, kv.Value, disks.Options(kv.Key))));
        var leader = await c.LeaderAsync();
        var name = c.Nodes.First(kv => kv.Value == leader).Key;
        foreach (var cmd in Commands("p", 50))
            await leader.ProposeAsync(Encoding.UTF8.GetBytes(cmd));
        await Task.Delay(1000);
        var acknowledged = machines[name].Items;
        Assert.Equal(Commands("p", 50), acknowledged);
        var lastPut = machines[name].AppliedIndexes[^1];
        await disks.CutAllAsync();

        // The WAL holds every entry, and a commit index behind the last acknowledged put: without
        // that, the test could not fail.
        var state = disks.ReadWal(name);
        output.WriteLine($"the WAL kept commit {state.HardState.Commit}, last entry {state.Entries[^1].Index}; the last put is at {lastPut}");
        Assert.True(state.HardState.Commit < lastPut, $"the WAL kept commit {state.HardState.Commit}: the power cut did not lose the commit index of the last put at {lastPut}");
        Assert.True(state.Entries[^1].Index >= lastPut);

        var forced = new ListStateMachine();
        var node = await c.StartWithAsync(name, forced, disks.Options(name, forceNewCluster: true));
        await node.WhenReadyAsync().WaitAsync(TimeSpan.FromSeconds(15));
        await SingleNodeTests.WaitUntil(() => node.Status.Role == NodeRole.Leader);
        await node.ProposeAsync(Encoding.UTF8.GetBytes("after"));
        Assert.Equal(acknowledged.Append("after"), forced.Items);
        // Each put at the index it was acknowledged at.
        Assert.Equal(machines[name].AppliedIndexes, forced.AppliedIndexes.Take(50));
    }
}
