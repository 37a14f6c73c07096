using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.Node.Membership;
using Raft.Shell.Storage;
using Raft.Shell.Wal;

using Raft.Shell.Node.Advanced;

namespace Raft.Shell.Node;

/// <summary>A failure to start a member, with a message that says what to fix.</summary>
public sealed class NodeStartException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>How a member began: everything the node needs to run.</summary>
internal sealed record StartedMember(
    ulong Id,
    ulong ClusterId,
    RawNode RawNode,
    NodeStorage Storage,
    Snapshot Snapshot,
    ClusterView Cluster,
    IReadOnlyList<(ulong Id, IReadOnlyList<string> PeerUrls)> Peers,
    int VotingMembersAtStart,
    bool IsNew = false,
    ulong DurableApplied = 0);

/// <summary>
/// etcd's NewServer bootstrap: a new member of a new cluster, a new member joining a running
/// cluster, a restart from the WAL and newest snapshot, or a forced restart as a one-member cluster
/// (--force-new-cluster). The pure parts (bootstrap entries, forced conf changes) come from Core.
/// </summary>
internal static class NodeStart
{
    /// <summary>etcd's maxSizePerMsg.</summary>
    public const ulong MaxSizePerMsg = 1024 * 1024;

    /// <summary>etcd's maxInflightMsgs: never overflow the transport's 4096-message buffers.</summary>
    public const int MaxInflightMsgs = 4096 / 8;

    public static async Task<StartedMember> StartAsync(
        RaftNodeOptions o,
        Lazy<Raft.Interop.IStateMachine> machine,
        ClusterFetcher? fetchCluster,
        ILogger log,
        CancellationToken ct)
    {
        var dataDir = o.EffectiveDataDir;
        try
        {
            Directory.CreateDirectory(dataDir);
        }
        catch (Exception ex)
        {
            throw new NodeStartException(RaftNodeOptions.DescribeDataDirError(dataDir, ex), ex);
        }
        var walOptions = new WalOptions { UnsafeNoFsync = o.UnsafeNoFsync, Logger = log };
        o.ConfigureStorage?.Invoke(walOptions);

        if (NodeStorage.Exists(dataDir, walOptions))
            return Restart(o, machine, walOptions, log);
        // Made only now: a persistent store checks for the WAL when it opens (KvBackends.OpenMember).
        var stateMachine = machine.Value;
        // Its applied index would describe entries of a log this member no longer has.
        if (stateMachine is Raft.Interop.IPersistentStateMachine { DurableAppliedIndex: > 0 and var held })
            throw new NodeStartException($"the state machine holds applied index {held}, but {dataDir} holds no WAL: start it with an empty store, or with the data directory it belongs to");
        if (o.ForceNewCluster)
            log.LogWarning("{Option} has no effect: {DataDir} holds no WAL yet", RaftNodeOptions.Key(nameof(o.ForceNewCluster)), dataDir);
        return o.IsNewCluster
            ? StartNew(o, walOptions, log)
            : await JoinAsync(o, fetchCluster, walOptions, log, ct).ConfigureAwait(false);
    }

    private static RawNode CreateRawNode(RaftNodeOptions o, ulong id, ulong applied, MemoryStorage storage) =>
        CoreAdapter.NewRawNode(id, o.ElectionTicks, applied, MaxSizePerMsg, MaxInflightMsgs, o.PreVote, storage, out var error)
            ?? throw new NodeStartException($"invalid raft configuration: {error}");

    /// <summary>The members named by --initial-cluster, with ids from their URLs and the token.</summary>
    private static List<ClusterMember> InitialMembers(RaftNodeOptions o) =>
        InitialMembers(o.EffectiveInitialCluster, o.InitialClusterToken, RaftNodeOptions.Key(nameof(o.InitialCluster)));

    /// <summary>The members an initial cluster text names, with their names and ids from their URLs and the token.</summary>
    internal static List<ClusterMember> InitialMembers(string initialCluster, string token, string flag)
    {
        var cluster = InitialCluster.TryParse(initialCluster, out var error)
            ?? throw new NodeStartException($"{flag}: {error}");
        var members = new List<ClusterMember>();
        foreach (var (name, urls) in cluster.Members)
        {
            var id = MemberIds.ComputeMemberId(urls, token);
            if (id == 0)
                throw new NodeStartException("cannot use 0 as member id");
            if (members.Any(m => m.Id == id))
                throw new NodeStartException($"member exists with identical ID {MemberIds.Format(id)}");
            members.Add(new ClusterMember(id, urls, false, name, []));
        }
        return members;
    }

    /// <summary>The seed's startNode for a new cluster: WAL with the member's metadata, raft bootstrapped from the peers.</summary>
    private static StartedMember StartNew(RaftNodeOptions o, WalOptions walOptions, ILogger log)
    {
        var members = InitialMembers(o);
        var self = members.Single(m => m.Name == o.Name);
        var clusterId = MemberIds.ComputeClusterId(members.Select(m => m.Id));
        // The bootstrap contexts carry the members as etcd marshals them before they run: no name.
        var peers = members.Select(m => new Peer(m.Id, (m with { Name = "" }).ToJson())).ToArray();
        var storage = NodeStorage.Create(o.EffectiveDataDir, new WalMetadata(self.Id, clusterId), walOptions);
        try
        {
            var rn = CreateRawNode(o, self.Id, 0, CoreAdapter.EmptyStorage);
            var booted = CoreAdapter.Bootstrap(rn, peers, out var bootError)
                ?? throw new NodeStartException($"cannot bootstrap: {bootError}");
            log.LogInformation("starting local member {Id:x} of new cluster {ClusterId:x}", self.Id, clusterId);
            return new StartedMember(self.Id, clusterId, booted, storage, CoreAdapter.EmptySnapshot, ClusterView.Empty(clusterId),
                members.Where(m => m.Id != self.Id).Select(m => (m.Id, m.PeerUrls)).ToArray(), members.Count, IsNew: true);
        }
        catch
        {
            storage.Close();
            DiscardNew(o.EffectiveDataDir, log);
            throw;
        }
    }

    /// <summary>
    /// Joining a running cluster (--initial-cluster-state existing): fetch its membership from the
    /// peers named in --initial-cluster, find this member in it by peer URLs (etcd's
    /// ValidateClusterAndAssignIDs), and start with an empty log that the leader fills.
    /// </summary>
    private static async Task<StartedMember> JoinAsync(RaftNodeOptions o, ClusterFetcher? fetchCluster, WalOptions walOptions, ILogger log, CancellationToken ct)
    {
        if (fetchCluster is null)
            throw new NodeStartException("joining an existing cluster needs a way to ask its members (no cluster fetcher configured)");
        var local = InitialMembers(o);
        var self = local.Single(m => m.Name == o.Name);
        var remoteUrls = local.Where(m => m.Name != o.Name).SelectMany(m => m.PeerUrls).ToArray();
        if (remoteUrls.Length == 0)
            throw new NodeStartException($"{RaftNodeOptions.Key(nameof(o.InitialClusterState))} existing needs the other members in {RaftNodeOptions.Key(nameof(o.InitialCluster))}");
        // The member that answers may not have applied this member's addition yet: ask again for a while.
        RemoteCluster existing;
        ClusterMember? me = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (true)
        {
            try
            {
                existing = await fetchCluster(remoteUrls, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw new NodeStartException($"cannot fetch cluster info from peer urls {string.Join(",", remoteUrls)}: {ex.Message}", ex);
            }
            me = existing.Members.FirstOrDefault(m => m.PeerUrls.SequenceEqual(self.PeerUrls, StringComparer.Ordinal));
            if (me is not null || DateTime.UtcNow > deadline)
                break;
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
        if (me is null)
            throw new NodeStartException(
                $"error validating peerURLs: member {o.Name} at {string.Join(",", self.PeerUrls)} is not in the cluster (add it first); the cluster has {string.Join(", ", existing.Members.Select(m => $"{MemberIds.Format(m.Id)}={string.Join(",", m.PeerUrls)}"))}");
        var storage = NodeStorage.Create(o.EffectiveDataDir, new WalMetadata(me.Id, existing.ClusterId), walOptions);
        log.LogInformation("starting local member {Id:x} joining cluster {ClusterId:x}", me.Id, existing.ClusterId);
        var rn = CreateRawNode(o, me.Id, 0, CoreAdapter.EmptyStorage);
        return new StartedMember(me.Id, existing.ClusterId, rn, storage, CoreAdapter.EmptySnapshot, ClusterView.Empty(existing.ClusterId),
            existing.Members.Where(m => m.Id != me.Id).Select(m => (m.Id, m.PeerUrls)).ToArray(), existing.Members.Count(m => !m.IsLearner), IsNew: true);
    }

    /// <summary>
    /// Removes what the failed start of a new member created (<c>member/</c> under the data
    /// directory), so that the next start begins afresh: a WAL without the first Ready's entries
    /// would restart as a member of no cluster and never elect a leader.
    /// </summary>
    internal static void DiscardNew(string dataDir, ILogger log)
    {
        var created = NodeStorage.MemberDir(dataDir);
        try
        {
            Directory.Delete(created, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            log.LogWarning("could not remove {Dir} after a failed first start; remove it before starting again: {Reason}", created, ex.Message);
        }
    }

    /// <summary>
    /// The seed's restartNode and restartAsStandaloneNode: WAL and newest valid snapshot; the state
    /// machine is restored from the snapshot and the committed entries after it are applied again.
    /// </summary>
    private static StartedMember Restart(RaftNodeOptions o, Lazy<Raft.Interop.IStateMachine> machine, WalOptions walOptions, ILogger log)
    {
        NodeStorage storage;
        RestartState state;
        // The state machine is made (a large store's index rebuilt) while the WAL is read: the two
        // are independent and were most of a restart one after the other. The WAL exists already,
        // so the store's open keeps the store.
        var opening = Task.Run(() => machine.Value);
        try
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            (storage, state) = NodeStorage.Restart(o.EffectiveDataDir, walOptions);
            log.LogInformation("read the WAL: {Entries} entries after the snapshot at {Index}, in {Elapsed:F0} ms",
                state.Entries.Length, state.Snapshot.Metadata.Index, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception ex)
        {
            // The store's open is not left running behind a failed start.
            try
            {
                opening.GetAwaiter().GetResult();
            }
            catch (Exception openError)
            {
                log.LogWarning(openError, "the state machine failed to open too");
            }
            throw new NodeStartException($"cannot read the data in {o.EffectiveDataDir}: {ex.Message}", ex);
        }
        Raft.Interop.IStateMachine stateMachine;
        try
        {
            stateMachine = opening.GetAwaiter().GetResult();
        }
        catch
        {
            storage.Close();
            throw;
        }
        try
        {
            var id = state.Metadata.NodeId;
            var clusterId = state.Metadata.ClusterId;
            var snapshot = state.Snapshot;
            var hasSnapshot = !CoreAdapter.IsEmpty(snapshot);
            var cluster = ClusterView.Empty(clusterId);
            // A persistent state machine holds what it applied (etcd's consistent index): read once,
            // here; entries up to it are not applied again.
            var persistent = stateMachine as Raft.Interop.IPersistentStateMachine;
            var durable = persistent?.DurableAppliedIndex ?? 0;
            if (persistent is not null)
                log.LogInformation("state machine holds applied index {Durable} durably", durable);
            if (hasSnapshot)
            {
                var (view, smData) = SnapshotEnvelope.Unpack(snapshot.Data);
                cluster = view;
                if (persistent is null)
                {
                    stateMachine.Restore(smData);
                    log.LogInformation("recovered state machine from snapshot at index {Index}", snapshot.Metadata.Index);
                }
                else if (durable < snapshot.Metadata.Index)
                {
                    // The snapshot came from the leader with a checkpoint, and the member stopped
                    // before the state machine installed it (etcd's recoverSnapshotBackend).
                    var path = NodeStorage.CheckpointPath(o.EffectiveDataDir, snapshot.Metadata.Index);
                    if (!File.Exists(path))
                        throw new NodeStartException(
                            $"the state machine has applied index {durable}, behind the snapshot at {snapshot.Metadata.Index}, and the checkpoint received with it ({path}) is missing");
                    persistent.InstallCheckpoint(path, snapshot.Metadata.Index);
                    durable = snapshot.Metadata.Index;
                    log.LogInformation("installed the checkpoint received with snapshot {Index}", durable);
                }
            }
            if (cluster.IsRemoved(id) || RemovedInLog(id, state.Entries, state.HardState.Commit))
                throw new NodeStartException(
                    $"the member has been permanently removed from the cluster; the data-dir used by this member ({o.EffectiveDataDir}) must be removed");

            NodeBootstrap.StorageImage image;
            if (o.ForceNewCluster)
            {
                var selfContext = new ClusterMember(id, RaftNodeOptions.SplitUrls(o.InitialAdvertisePeerUrls).Order(StringComparer.Ordinal).ToArray(), false, "", []).ToJson();
                var f = CoreAdapter.ForceStandalone(id, selfContext, snapshot, state.HardState, state.Entries, durable, out var forceError)
                    ?? throw new NodeStartException($"cannot force a new cluster: {forceError}");
                // etcd discards these; they are kept because the commit index on disk may lag
                // behind what the member applied and acknowledged (NodeBootstrap.restartAsStandaloneNode).
                if (f.KeptPastCommit > 0)
                    log.LogWarning("keeping {Count} WAL entries past the commit index on disk ({Commit}) and the applied index ({Applied}); some may never have been committed and now take effect",
                        f.KeptPastCommit, state.HardState.Commit, durable);
                // Written before the node starts, with an empty hard state, as etcd does.
                storage.Save(CoreAdapter.EmptyHardState, f.WalEntries);
                image = f.Storage;
                log.LogWarning("forcing restart of member {Id:x} in cluster {ClusterId:x} as a one-member cluster, commit index {Commit}",
                    id, clusterId, image.HardState.Commit);
            }
            else
            {
                image = CoreAdapter.RestartImage(snapshot, state.HardState, state.Entries, durable, out var restartError)
                    ?? throw new NodeStartException($"cannot restart from {o.EffectiveDataDir}: {restartError}");
                log.LogInformation("restarting local member {Id:x} in cluster {ClusterId:x}, commit index {Commit}", id, clusterId, image.HardState.Commit);
            }

            var ms = CoreAdapter.LoadImage(image, out var loadError)
                ?? throw new NodeStartException($"cannot load snapshot {snapshot.Metadata.Index}: {loadError}");
            var rn = CreateRawNode(o, id, snapshot.Metadata.Index, ms);
            var peers = cluster.Members.Values.Where(m => m.Id != id && !o.ForceNewCluster).Select(m => (m.Id, m.PeerUrls)).ToArray();
            // The members the log will hold once replayed (etcd knows them from its stores).
            var members = CoreAdapter.MemberCount(snapshot, image.Entries) ?? 1;
            return new StartedMember(id, clusterId, rn, storage, snapshot, cluster, peers, o.ForceNewCluster ? 1 : Math.Max(1, members),
                DurableApplied: durable);
        }
        catch
        {
            storage.Close();
            throw;
        }
    }

    /// <summary>Whether a committed conf change in the WAL removed <paramref name="self"/>.</summary>
    private static bool RemovedInLog(ulong self, Entry[] entries, ulong commit)
    {
        foreach (var e in entries)
        {
            if (e.Index > commit)
                continue;
            if (CoreAdapter.TryDecodeConfChange(e) is { } cc && CoreAdapter.KindOf(cc.Type) == ConfChangeKind.RemoveNode && cc.NodeID == self)
                return true;
        }
        return false;
    }
}
