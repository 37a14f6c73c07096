using Microsoft.FSharp.Collections;
using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.Node.Membership;
using Raft.Shell.Storage;
using Raft.Shell.Wal;

namespace Raft.Shell.Node;

/// <summary>
/// The Raft side of etcd's <c>snapshot restore</c>: a new member's WAL and raft snapshot for a new
/// cluster whose log starts after the index the restored state machine holds. Every member restored
/// from one file with one <c>--initial-cluster</c> and token gets the same cluster id and the same
/// snapshot (term 1, the members as voters), so they start together as one cluster, as etcd's do.
/// </summary>
internal static class MemberRestore
{
    /// <summary>
    /// Writes <paramref name="dataDir"/>'s WAL (metadata, raft snapshot record, hard state with the
    /// commit at <paramref name="index"/>) and snap file. The data directory must hold no WAL yet.
    /// </summary>
    /// <returns>The member's id and the cluster's id.</returns>
    /// <exception cref="NodeStartException">The name is not in the initial cluster, or a WAL exists.</exception>
    public static (ulong MemberId, ulong ClusterId) WriteRaftState(string dataDir, string name, string initialCluster, string token, ulong index)
    {
        if (index == 0) throw new ArgumentOutOfRangeException(nameof(index), "a restored log starts after index 1 at least");
        if (NodeStorage.Exists(dataDir))
            throw new NodeStartException($"{dataDir} already holds a WAL: restore into a new data directory");
        var members = NodeStart.InitialMembers(initialCluster, token, "--initial-cluster");
        var self = members.SingleOrDefault(m => m.Name == name)
            ?? throw new NodeStartException($"--name {name} is not in --initial-cluster {initialCluster}");
        var clusterId = MemberIds.ComputeClusterId(members.Select(m => m.Id));
        // As a new cluster's bootstrap: no names until each member publishes its own.
        var view = members.Aggregate(ClusterView.Empty(clusterId), (v, m) => v.Add(m with { Name = "" }));
        var confState = new ConfState(ListModule.OfSeq(members.Select(m => m.Id).Order()), FSharpList<ulong>.Empty,
            FSharpList<ulong>.Empty, FSharpList<ulong>.Empty, false);
        var snapshot = new Snapshot(SnapshotEnvelope.Pack(view, []), new SnapshotMetadata(confState, index, 1));
        using var storage = NodeStorage.Create(dataDir, new WalMetadata(self.Id, clusterId), new WalOptions());
        storage.SaveSnap(snapshot);
        storage.Save(new HardState(1, 0, index), []);
        return (self.Id, clusterId);
    }
}
