using Microsoft.FSharp.Collections;
using Raft.Core;
using Raft.Interop;
using Raft.Shell.Node;

namespace Raft.Shell.Tests.Node;

// Inside the namespace: Google.Protobuf 3.36 (dotnet-etcd's) has a global namespace Pb that would hide Core's Pb.
using Pb = Raft.Core.Pb;

/// <summary>
/// The ticks a member advances at start (<see cref="NodeLifecycle.TicksToAdvance"/>): a member
/// alone is leader after them whatever its randomized election timeout, so a restarted one-member
/// cluster answers its first linearizable read without waiting out a random timeout.
/// </summary>
public class TicksToAdvanceTests
{
    private const int ElectionTicks = 10;

    // A restarted member `id`, the only voter of its cluster, ticked `ticks` times.
    private static NodeRole AfterTicks(ulong id, int ticks)
    {
        var conf = new ConfState(ListModule.OfSeq([id]), Pb.emptyConfState.Learners, Pb.emptyConfState.VotersOutgoing,
            Pb.emptyConfState.LearnersNext, false);
        var snapshot = new Snapshot([], new SnapshotMetadata(conf, 5, 2));
        var storage = MemoryStorageModule.applySnapshot(snapshot, CoreAdapter.EmptyStorage).ResultValue;
        var rn = CoreAdapter.NewRawNode(id, ElectionTicks, 5, 1 << 20, 256, preVote: true, storage, out var error)
            ?? throw new InvalidOperationException(error);
        for (var i = 0; i < ticks; i++)
            rn = CoreAdapter.Tick(rn);
        return CoreAdapter.Status(rn).Role;
    }

    [Fact]
    public void AMemberAloneIsLeaderAfterTheAdvancedTicks()
    {
        var ids = Enumerable.Range(1, 64).Select(i => (ulong)i * 0x9e3779b97f4a7c15UL).ToArray();
        var ticks = NodeLifecycle.TicksToAdvance(1, ElectionTicks);
        Assert.All(ids, id => Assert.Equal(NodeRole.Leader, AfterTicks(id, ticks)));
        // etcd's advance (one tick less than the election timeout) leaves some of them waiting.
        Assert.Contains(ids, id => AfterTicks(id, ElectionTicks - 1) != NodeRole.Leader);
    }

    [Fact]
    public void AMemberOfALargerClusterKeepsTwoTicksOfItsTimeout() =>
        Assert.Equal(ElectionTicks - 2, NodeLifecycle.TicksToAdvance(3, ElectionTicks));
}
