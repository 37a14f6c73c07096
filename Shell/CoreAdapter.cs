using Microsoft.Extensions.Logging;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using Raft.Core;
using Raft.Shell.Node;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace Raft.Shell;

/// <summary>How raft took a proposal.</summary>
internal enum ProposalOutcome
{
    /// <summary>Appended to the leader's log (or forwarded to it).</summary>
    Accepted,
    /// <summary>ErrProposalDropped: no leader, a transfer in progress, or the uncommitted-size limit.</summary>
    Dropped,
    /// <summary>Refused for another reason (see the message).</summary>
    Refused,
}

/// <summary>The kinds of a v1 conf change.</summary>
internal enum ConfChangeKind
{
    /// <summary>ConfChangeAddNode.</summary>
    AddNode,
    /// <summary>ConfChangeRemoveNode.</summary>
    RemoveNode,
    /// <summary>ConfChangeUpdateNode.</summary>
    UpdateNode,
    /// <summary>ConfChangeAddLearnerNode.</summary>
    AddLearnerNode,
}

/// <summary>The kinds of a log entry.</summary>
internal enum EntryKindOfLog
{
    /// <summary>EntryNormal.</summary>
    Normal,
    /// <summary>EntryConfChange (v1).</summary>
    ConfChange,
    /// <summary>EntryConfChangeV2.</summary>
    ConfChangeV2,
}

/// <summary>
/// The one place where the shell's C# code meets the F# core's compiled forms (modules, options,
/// lists, results, union tags): every RawNode, planner and codec operation the node uses, as a
/// C#-shaped method. Failures that break an invariant throw <see cref="InvalidOperationException"/>.
/// </summary>
internal static class CoreAdapter
{
    // ------------------------------------------------------------------------------------------
    // Empty values.

    public static Snapshot EmptySnapshot => Pb.emptySnapshot;

    public static HardState EmptyHardState => Pb.emptyHardState;

    /// <summary>Whether the hard state is the empty one (etcd's IsEmptyHardState).</summary>
    public static bool IsEmpty(HardState hardState) => Pb.isEmptyHardState(hardState);

    public static Ready EmptyReady => Pb.emptyReady;

    /// <summary>Whether the snapshot is the empty one (etcd's IsEmptySnap).</summary>
    public static bool IsEmpty(Snapshot snapshot) => Pb.isEmptySnap(snapshot);

    // ------------------------------------------------------------------------------------------
    // RawNode.

    public static ulong Id(RawNode rn) => RawNodeModule.id(rn);

    public static bool HasReady(RawNode rn) => RawNodeModule.hasReady(rn);

    public static (Ready Ready, RawNode Node) Ready(RawNode rn)
    {
        var (rd, next) = RawNodeModule.ready(rn);
        return (rd, next);
    }

    public static RawNode Advance(RawNode rn, Ready rd) => RawNodeModule.advance(rd, rn);

    public static RawNode Tick(RawNode rn) => RawNodeModule.tick(rn);

    public static RawNode Step(RawNode rn, Message m) => RawNodeModule.step(m, rn).Item1;

    /// <summary>The leader this node knows of; 0 when none.</summary>
    public static ulong Lead(RawNode rn) => RawNodeModule.raft(rn).Lead;

    public static ulong Term(RawNode rn) => RawNodeModule.raft(rn).Term;

    public static bool IsLearner(RawNode rn) => RawNodeModule.raft(rn).IsLearner;

    public static RawNode ReadIndex(RawNode rn, byte[] context) => RawNodeModule.readIndex(context, rn);

    public static RawNode ReportUnreachable(RawNode rn, ulong id) => RawNodeModule.reportUnreachable(id, rn);

    public static RawNode ReportSnapshot(RawNode rn, ulong id, SnapshotStatus status) => RawNodeModule.reportSnapshot(id, status, rn);

    /// <summary>Whether the snapshot sent to a peer arrived.</summary>
    public static bool IsFinished(SnapshotStatus status) => status.IsSnapshotFinish;

    public static RawNode TransferLeader(RawNode rn, ulong transferee) => RawNodeModule.transferLeader(transferee, rn);

    /// <summary>Proposes a normal entry (<paramref name="confChange"/> null) or a v1 conf change.</summary>
    public static (RawNode Node, ProposalOutcome Outcome, string Error) Propose(RawNode rn, byte[] data, ConfChange? confChange)
    {
        var (next, result) = confChange is { } cc
            ? RawNodeModule.proposeConfChange(ConfChangeI.NewV1(cc), rn)
            : RawNodeModule.propose(data, rn);
        if (result.IsOk)
            return (next, ProposalOutcome.Accepted, "");
        var error = result.ErrorValue;
        return (next, error.IsErrProposalDropped ? ProposalOutcome.Dropped : ProposalOutcome.Refused, RaftErrorModule.message(error));
    }

    public static (RawNode Node, ConfState ConfState) ApplyConfChange(RawNode rn, ConfChange cc)
    {
        var (next, cs) = RawNodeModule.applyConfChange(ConfChangeI.NewV1(cc), rn);
        return (next, cs);
    }

    /// <summary>
    /// Records a snapshot at <paramref name="index"/> in the raft storage; null when the log has
    /// moved past it (ErrSnapOutOfDate: a newer snapshot arrived meanwhile).
    /// </summary>
    public static (RawNode Node, Snapshot Snapshot)? CreateSnapshot(RawNode rn, ulong index, ConfState confState, byte[] data)
    {
        var created = RawNodeModule.createSnapshot(index, FSharpOption<ConfState>.Some(confState), data, rn);
        if (created.IsOk)
        {
            var (snap, next) = created.ResultValue;
            return (next, snap);
        }
        if (created.ErrorValue.IsErrSnapOutOfDate)
            return null;
        throw new InvalidOperationException($"broken invariant: failed to create snapshot at {index}: {StorageErrorModule.message(created.ErrorValue)}");
    }

    /// <summary>Compacts the in-memory log up to <paramref name="index"/>; null when it already is (ErrCompacted).</summary>
    public static RawNode? Compact(RawNode rn, ulong index)
    {
        var compacted = RawNodeModule.compact(index, rn);
        if (compacted.IsOk)
            return compacted.ResultValue;
        if (compacted.ErrorValue.IsErrCompacted)
            return null;
        throw new InvalidOperationException($"broken invariant: failed to compact at {index}: {StorageErrorModule.message(compacted.ErrorValue)}");
    }

    public static RawNode ApplySnapshotToStorage(RawNode rn, Snapshot snap)
    {
        var applied = RawNodeModule.applySnapshotToStorage(snap, rn);
        if (applied.IsError)
            throw new InvalidOperationException($"broken invariant: cannot apply snapshot {snap.Metadata.Index} to the raft log: {StorageErrorModule.message(applied.ErrorValue)}");
        return applied.ResultValue;
    }

    public static RawNode AppendToStorage(RawNode rn, Entry[] entries) => RawNodeModule.appendToStorage(entries, rn);

    /// <summary>Hands the log lines Core produced to <paramref name="logger"/>; returns the node without them.</summary>
    public static RawNode DrainLogs(RawNode rn, ILogger logger)
    {
        var (lines, next) = RawNodeModule.drainLogs(rn);
        if (lines.IsEmpty)
            return rn;
        foreach (var line in lines)
        {
            var level = LogLevelOf(line.Level);
            if (logger.IsEnabled(level))
                logger.Log(level, "raft: {Line}", line.Text);
        }
        return next;
    }

    private static LogLevel LogLevelOf(Raft.Core.LogLevel level) =>
        level.Tag switch
        {
            Raft.Core.LogLevel.Tags.Debug => LogLevel.Debug,
            Raft.Core.LogLevel.Tags.Info => LogLevel.Information,
            Raft.Core.LogLevel.Tags.Warn => LogLevel.Warning,
            Raft.Core.LogLevel.Tags.Error => LogLevel.Error,
            _ => LogLevel.Critical,
        };

    /// <summary>The node's status as the public API reports it.</summary>
    public static (HardState HardState, ulong Lead, Raft.Interop.NodeRole Role, ulong SnapshotIndex, bool IsLearner) Status(RawNode rn)
    {
        var b = RawNodeModule.basicStatus(rn);
        var role = b.SoftState.RaftState.Tag switch
        {
            StateType.Tags.StateLeader => Raft.Interop.NodeRole.Leader,
            StateType.Tags.StateCandidate => Raft.Interop.NodeRole.Candidate,
            StateType.Tags.StatePreCandidate => Raft.Interop.NodeRole.PreCandidate,
            _ => Raft.Interop.NodeRole.Follower,
        };
        var snapIndex = MemoryStorageModule.snapshot(RawNodeModule.storage(rn)).Metadata.Index;
        return (b.HardState, b.SoftState.Lead, role, snapIndex, RawNodeModule.raft(rn).IsLearner);
    }

    /// <summary>etcd's raft status as its JSON.</summary>
    public static string StatusJson(RawNode rn) => StatusModule.toJson(RawNodeModule.status(rn));

    /// <summary>Every tracked member's progress, in id order; empty when this node does not lead.</summary>
    public static Interop.PeerProgress[] Progress(RawNode rn) =>
        RawNodeModule.status(rn).Progress
            .Select(kv => new Interop.PeerProgress(kv.Key, kv.Value.Match, kv.Value.Next, ProgressModule.stateName(kv.Value.State),
                InflightsModule.count(kv.Value.Inflights), InflightsModule.size(kv.Value.Inflights), ProgressModule.isPaused(kv.Value),
                kv.Value.RecentActive, kv.Value.PendingSnapshot, kv.Value.IsLearner))
            .ToArray();

    /// <summary>
    /// What a leader knows of a peer's log: its match index and the leader's own; null when this
    /// node does not lead (it tracks no progress) or does not know the peer.
    /// </summary>
    public static (ulong PeerMatch, ulong LeaderMatch)? Match(RawNode rn, ulong peer, out bool isLeader)
    {
        var status = RawNodeModule.status(rn);
        isLeader = !status.Progress.IsEmpty;
        if (!isLeader || !status.Progress.TryGetValue(peer, out var p))
            return null;
        return (p.Match, status.Progress[status.Basic.ID].Match);
    }

    /// <summary>Whether a proposal arriving now goes to raft, or waits for a leader (Core's ProposalGate).</summary>
    public static bool AdmitProposal(RawNode rn) => ProposalGate.admit(Lead(rn));

    /// <summary>Whether the <paramref name="held"/> proposals waiting for a leader go to raft now.</summary>
    public static bool ReleaseHeldProposals(RawNode rn, int held) => ProposalGate.release(Lead(rn), held);

    // ------------------------------------------------------------------------------------------
    // Starting a node (Core's Config, Bootstrap and NodeBootstrap).

    /// <summary>
    /// A RawNode over <paramref name="storage"/> with etcd's settings for a member (check quorum on,
    /// ReadOnlySafe, proposal forwarding on); null with the reason when the configuration is invalid.
    /// </summary>
    public static RawNode? NewRawNode(ulong id, int electionTicks, ulong applied, ulong maxSizePerMsg, int maxInflightMsgs, bool preVote,
        MemoryStorage storage, out string error)
    {
        var config = new Config(id, electionTicks, 1, applied, maxSizePerMsg, 0UL, 0UL, maxInflightMsgs, true, preVote,
            ReadOnlyOption.ReadOnlySafe, false, FSharpOption<ulong>.None);
        var valid = ConfigModule.validate(config);
        error = valid.IsError ? valid.ErrorValue : "";
        return valid.IsOk ? RawNodeModule.create(valid.ResultValue, storage) : null;
    }

    /// <summary>An empty raft log.</summary>
    public static MemoryStorage EmptyStorage => MemoryStorageModule.empty;

    /// <summary>The seed's bootstrap of a new cluster's first entries; null with the reason when it cannot.</summary>
    public static RawNode? Bootstrap(RawNode rn, IEnumerable<Peer> peers, out string error)
    {
        var boot = Raft.Core.Bootstrap.bootstrap(ListModule.OfSeq(peers), rn);
        error = boot.IsError ? boot.ErrorValue : "";
        return boot.IsOk ? boot.ResultValue : null;
    }

    private static FSharpOption<Snapshot> SnapshotOption(Snapshot snapshot) =>
        Pb.isEmptySnap(snapshot) ? FSharpOption<Snapshot>.None : FSharpOption<Snapshot>.Some(snapshot);

    /// <summary>
    /// The seed's restartNode: what the raft log starts with after a restart (empty snapshot: none),
    /// with the commit index raised to what the state machine holds as applied; null with the
    /// reason when the state machine is ahead of the log.
    /// </summary>
    public static NodeBootstrap.StorageImage? RestartImage(Snapshot snapshot, HardState hardState, Entry[] entries, ulong applied, out string error)
    {
        var image = NodeBootstrap.restartNode(SnapshotOption(snapshot), hardState, entries, applied);
        error = image.IsError ? image.ErrorValue : "";
        return image.IsOk ? image.ResultValue : null;
    }

    /// <summary>
    /// The seed's restartAsStandaloneNode (--force-new-cluster), keeping every entry up to what the
    /// state machine holds as applied; null with the reason when it cannot.
    /// </summary>
    public static NodeBootstrap.ForcedRestart? ForceStandalone(ulong self, byte[] selfContext, Snapshot snapshot, HardState hardState, Entry[] entries, ulong applied, out string error)
    {
        var forced = NodeBootstrap.restartAsStandaloneNode(self, selfContext, SnapshotOption(snapshot), hardState, entries, applied);
        error = forced.IsError ? forced.ErrorValue : "";
        return forced.IsOk ? forced.ResultValue : null;
    }

    /// <summary>The raft log an image describes; null with the reason when its snapshot does not load.</summary>
    public static MemoryStorage? LoadImage(NodeBootstrap.StorageImage image, out string error)
    {
        var ms = MemoryStorageModule.empty;
        error = "";
        if (!Pb.isEmptySnap(image.Snapshot))
        {
            var applied = MemoryStorageModule.applySnapshot(image.Snapshot, ms);
            if (applied.IsError)
            {
                error = StorageErrorModule.message(applied.ErrorValue);
                return null;
            }
            ms = applied.ResultValue;
        }
        ms = MemoryStorageModule.setHardState(image.HardState, ms);
        return MemoryStorageModule.append(image.Entries, ms);
    }

    /// <summary>How many members the snapshot and entries name (the seed's getIDs); null when a conf change does not decode.</summary>
    public static int? MemberCount(Snapshot snapshot, Entry[] entries)
    {
        var ids = NodeBootstrap.getIDs(SnapshotOption(snapshot), entries);
        return ids.IsOk ? ids.ResultValue.Length : null;
    }

    // ------------------------------------------------------------------------------------------
    // Codec and unions.

    /// <summary>The conf change of a committed EntryConfChange; a broken invariant when it does not decode.</summary>
    public static ConfChange DecodeConfChange(Entry e)
    {
        var decoded = Codec.unmarshalConfChange(e.Data);
        if (decoded.IsError)
            throw new InvalidOperationException($"broken invariant: conf change at {e.Index} does not decode: {decoded.ErrorValue}");
        return decoded.ResultValue;
    }

    /// <summary>The conf change of an entry, or null when it is not a v1 conf change or does not decode.</summary>
    public static ConfChange? TryDecodeConfChange(Entry e)
    {
        if (!e.Type.IsEntryConfChange)
            return null;
        var decoded = Codec.unmarshalConfChange(e.Data);
        return decoded.IsOk ? decoded.ResultValue : null;
    }

    /// <summary>etcd's name of an entry type (EntryNormal, EntryConfChange, EntryConfChangeV2).</summary>
    public static string EntryTypeName(EntryType type) => Pb.entryTypeName(type);

    /// <summary>etcd's name of a message type (MsgApp, MsgSnap, ...).</summary>
    public static string MessageTypeName(MessageType type) => Pb.messageTypeName(type);

    /// <summary>
    /// The changes of a conf change entry (v1 or v2) as "ConfChangeAddNode(2) ...", or null when
    /// the entry is not a conf change or does not decode.
    /// </summary>
    public static string? DescribeConfChanges(Entry e)
    {
        var decoded = Codec.confChangeOfEntry(e);
        if (decoded is null || !decoded.Value.IsOk)
            return null;
        return string.Join(" ", Pb.asV2(decoded.Value.ResultValue).Changes.Select(c => $"{Pb.confChangeTypeName(c.Type)}({c.NodeID:x})"));
    }

    public static ConfChangeKind KindOf(ConfChangeType type) =>
        type.Tag switch
        {
            ConfChangeType.Tags.ConfChangeAddNode => ConfChangeKind.AddNode,
            ConfChangeType.Tags.ConfChangeRemoveNode => ConfChangeKind.RemoveNode,
            ConfChangeType.Tags.ConfChangeUpdateNode => ConfChangeKind.UpdateNode,
            _ => ConfChangeKind.AddLearnerNode,
        };

    public static EntryKindOfLog KindOf(EntryType type) =>
        type.Tag switch
        {
            EntryType.Tags.EntryNormal => EntryKindOfLog.Normal,
            EntryType.Tags.EntryConfChange => EntryKindOfLog.ConfChange,
            _ => EntryKindOfLog.ConfChangeV2,
        };

    // ------------------------------------------------------------------------------------------
    // Apply side.

    public static ApplyProgress StartProgress(Snapshot snapshot) => ApplyPlanner.start(snapshot);

    /// <summary>The apply loop's steps for one Ready's work; a broken invariant when the work does not follow the progress.</summary>
    public static ApplyPlan PlanApply(ApplyProgress progress, Entry[] entries, Snapshot snapshot)
    {
        var plan = ApplyPlanner.plan(progress, entries, snapshot);
        if (plan.IsError)
            throw new InvalidOperationException($"broken invariant: {plan.ErrorValue}");
        return plan.ResultValue;
    }

    /// <summary>Runs the steps through <paramref name="handler"/>; false when one ended the loop.</summary>
    public static bool RunApply(IApplyHandler handler, ApplyPlan plan) => ApplyPlanner.run(handler, plan);

    public static SnapshotSettings SnapshotSettings(ulong snapshotCount, ulong catchUpEntries, int pauseFactor) =>
        new(snapshotCount, catchUpEntries, pauseFactor);

    /// <summary>The snapshot settings for a kind of state machine (no pacing for a persistent one).</summary>
    public static SnapshotSettings SnapshotSettingsFor(StateMachineKind kind, SnapshotSettings settings) => SnapshotPlanner.settingsFor(kind, settings);

    /// <summary>The kind of <paramref name="stateMachine"/>.</summary>
    public static StateMachineKind KindOf(Raft.Interop.IStateMachine stateMachine) =>
        stateMachine is Raft.Interop.IPersistentStateMachine ? StateMachineKind.Persistent : StateMachineKind.InMemory;

    /// <summary>Runs Core's apply-loop steps for taking a snapshot of a kind of state machine.</summary>
    public static void RunCapture(ICaptureHandler handler, StateMachineKind kind) =>
        SnapshotPlanner.runCapture(handler, SnapshotPlanner.capture(kind));

    public static bool SnapshotDue(SnapshotSettings settings, ApplyProgress progress) => SnapshotPlanner.isDue(settings, progress);

    /// <summary>
    /// Core's snapshot decision. <paramref name="inFlight"/>: one is being taken; otherwise the
    /// last one ran from <paramref name="lastStarted"/> to <paramref name="lastSaved"/> (null: none, or it failed).
    /// Null unless a snapshot is to be taken now.
    /// </summary>
    public static SnapshotOrder? DecideSnapshot(SnapshotSettings settings, ApplyProgress progress, bool inFlight,
        TimeSpan? lastStarted, TimeSpan? lastSaved, int sendingSnapshots, TimeSpan now)
    {
        var last = inFlight ? LastSnapshot.InFlight
            : lastStarted is { } started && lastSaved is { } saved ? LastSnapshot.NewSaved(started, saved)
            : LastSnapshot.NoSnapshot;
        var decision = SnapshotPlanner.decide(settings, progress, last, sendingSnapshots, now);
        return decision is SnapshotDecision.Take take ? take.Item : null;
    }

    /// <summary>Runs Core's steps for recording <paramref name="order"/> through <paramref name="handler"/>.</summary>
    public static void RunSnapshot(ISnapshotHandler handler, SnapshotOrder order) =>
        SnapshotPlanner.run(handler, SnapshotPlanner.plan(order));

    /// <summary>Which WAL segments and snap files to remove, oldest first (0 keeps all).</summary>
    public static (IReadOnlyList<string> Wal, IReadOnlyList<string> Snap) PlanPurge(int maxWals, int maxSnaps, IEnumerable<string> walNames, IEnumerable<string> snapNames)
    {
        var plan = Purge.plan(maxWals, maxSnaps, ListModule.OfSeq(walNames), ListModule.OfSeq(snapNames));
        return (plan.Wal.ToArray(), plan.Snap.ToArray());
    }

    /// <summary>State-machine snapshot files older than a snapshot at <paramref name="index"/>.</summary>
    public static IReadOnlyList<string> SnapDbsOlderThan(ulong index, IEnumerable<string> names) =>
        Purge.snapDbsOlderThan(index, ListModule.OfSeq(names)).ToArray();

    // ------------------------------------------------------------------------------------------
    // Membership administration (Core's ReconfigQuorum).

    public static bool ReadyToAddVoter(IEnumerable<ulong> voters, Func<ulong, bool> started, ulong newMember) =>
        ReconfigQuorum.readyToAdd(ListModule.OfSeq(voters), FuncConvert.FromFunc(started), newMember);

    public static bool ReadyToRemoveVoter(IEnumerable<ulong> voters, Func<ulong, bool> started, ulong leaving) =>
        ReconfigQuorum.readyToRemove(ListModule.OfSeq(voters), FuncConvert.FromFunc(started), leaving);

    public static bool ReadyToPromote(IEnumerable<ulong> voters, Func<ulong, bool> started, ulong learner) =>
        ReconfigQuorum.readyToPromote(ListModule.OfSeq(voters), FuncConvert.FromFunc(started), learner);

    public static bool MayRemoveActive(IEnumerable<ulong> voters, Func<ulong, bool> active, ulong leaving) =>
        ReconfigQuorum.mayRemoveActive(ListModule.OfSeq(voters), FuncConvert.FromFunc(active), leaving);

    // ------------------------------------------------------------------------------------------
    // Planner and interpreter.

    /// <summary>Core's planner.</summary>
    public static Plan Plan(PlanInput input, PlannerState state) => Planner.plan(input, state);

    public static PlannerState InitialPlannerState => Planner.initial;

    public static PlanInput PlanInput(Ready rd, Func<ulong, bool> isRemoved, TimeSpan now, TimeSpan heartbeatInterval) =>
        new(rd, FuncConvert.FromFunc(isRemoved), now, heartbeatInterval);

    /// <summary>Runs the plan's effects, in order, through <paramref name="handler"/>.</summary>
    public static void Run(IEffectHandler handler, Plan plan) => Interpreter.run(handler, plan);

    private static readonly Dictionary<GofailSite, Failpoint> Failpoints =
        Gofail.all.ToDictionary(site => site, site => Enum.GetValues<Failpoint>().Single(fp => FailpointSet.SeedName(fp) == Gofail.name(site)));

    /// <summary>The shell's failpoint for Core's gofail site (the same name).</summary>
    public static Failpoint Failpoint(GofailSite site) => Failpoints[site];

    /// <summary>Core's gofail sites by name, for checking that the shell knows every one.</summary>
    public static IReadOnlyList<string> GofailSiteNames => Gofail.all.Select(Gofail.name).ToArray();

    /// <summary>A Plan with other effects (for planners that rewrite Core's).</summary>
    public static Plan WithEffects(Plan plan, IEnumerable<Effect> effects) => new(ListModule.OfSeq(effects), plan.State);
}
