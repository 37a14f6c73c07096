using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.Interop;
using Raft.Shell.Node.Membership;

using Raft.Shell.Node.Advanced;

namespace Raft.Shell.Node;

/// <summary>What a conf change's proposer learns when it is applied (etcd's confChangeResponse).</summary>
/// <param name="Cluster">The membership after the change.</param>
/// <param name="Error">Why the change was refused; null when it was applied.</param>
internal sealed record ConfChangeResult(ClusterView Cluster, MembershipError? Error);

/// <summary>What the apply loop tells the node about.</summary>
internal interface IApplySink
{
    /// <summary>The applied membership changed.</summary>
    void OnCluster(ClusterView cluster);

    /// <summary>A leader's no-op was applied: the first commit of a term (etcd's notifyAboutFirstCommitInTerm).</summary>
    void OnFirstCommitInTerm();

    /// <summary>This member applied its own removal (etcd's shouldStop).</summary>
    void OnRemovedSelf();

    /// <summary>The loop failed (the state machine threw, or a broken invariant).</summary>
    void OnFatal(Exception error);
}

/// <summary>
/// The apply side of the node (etcd's EtcdServer.run and applyAll): applies committed entries and
/// snapshots in order on a dedicated thread. What it does with each Ready's work, and where it
/// waits for the runner, is Core's ApplyPlanner's plan; this class runs the steps
/// (<see cref="IApplyHandler"/>). Conf changes go to the <see cref="MembershipApplier"/>, snapshots
/// to the <see cref="SnapshotScheduler"/>.
/// </summary>
internal sealed class ApplyLoop : IApplyHandler
{
    private readonly IStateMachine _sm;
    private readonly IPersistentStateMachine? _persistent;
    private readonly ulong _durableAtStart;
    private readonly string _dataDir;
    private readonly RaftRunner _runner;
    private readonly RequestWaits _waits;
    private readonly AppliedIndexWait _appliedWait;
    private readonly NodeMetrics _metrics;
    private readonly ILogger _log;
    private readonly IApplySink _sink;
    private readonly MembershipApplier _membership;
    private readonly SnapshotScheduler _snapshots;
    private readonly FailpointSet? _failpoints;
    // The loop's one wake-up, for its queue and every Ready's notify slot.
    private readonly WakeEvent _wake = new();
    private readonly ApplyQueue<ApplyItem> _queue;
    private readonly CancellationTokenSource _abort = new();
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _thread;
    private bool _warnedUnknown;
    private bool _removedSelf;
    private ApplyProgress _progress;
    private NotifySlot _notify = new();

    public ApplyLoop(
        ulong self,
        Snapshot snapshot,
        ClusterView cluster,
        IStateMachine stateMachine,
        RaftRunner runner,
        IPeerTransport transport,
        RequestWaits waits,
        AppliedIndexWait appliedWait,
        NodeMetrics metrics,
        ILogger log,
        IApplySink sink,
        SnapshotSettings snapshotSettings,
        FailpointSet? failpoints,
        ulong durableAtStart,
        string dataDir)
    {
        _failpoints = failpoints;
        _queue = new ApplyQueue<ApplyItem>(_wake);
        _sm = stateMachine;
        _persistent = stateMachine as IPersistentStateMachine;
        _durableAtStart = durableAtStart;
        _dataDir = dataDir;
        _runner = runner;
        _waits = waits;
        _appliedWait = appliedWait;
        _metrics = metrics;
        _log = log;
        _sink = sink;
        _progress = CoreAdapter.StartProgress(snapshot);
        _membership = new MembershipApplier(self, cluster, snapshot.Metadata.ConfState, runner, transport, waits, metrics, log, sink);
        var kind = CoreAdapter.KindOf(stateMachine);
        _snapshots = new SnapshotScheduler(self, stateMachine, runner, transport, CoreAdapter.SnapshotSettingsFor(kind, snapshotSettings), log, sink, _abort.Token);
        _thread = new Thread(Run) { IsBackground = true, Name = $"raft-apply-{self:x}" };
    }

    /// <summary>The applied membership.</summary>
    public ClusterView Cluster => _membership.Cluster;

    /// <summary>Completes when the loop has ended.</summary>
    public Task Completion => _done.Task;

    public void Start() => _thread.Start();

    /// <summary>
    /// Queues a Ready's committed entries and snapshot (the seed's applyc; never blocks). The loop
    /// starts on them at the next <see cref="Signal"/>.
    /// </summary>
    public void Enqueue(ApplyItem item) =>
        // False when stopping: nothing more is applied.
        _queue.TryAddQuietly(item);

    /// <summary>Wakes the loop for what <see cref="Enqueue"/> queued.</summary>
    public void Signal() => _queue.Signal();

    /// <summary>A MsgSnap redirected by the planner; dropped when 16 are already waiting, as etcd does.</summary>
    public void OfferMsgSnap(Message m)
    {
        _snapshots.Offer(m);
        // etcd's apply side looks for MsgSnaps after every Ready; ours hears only of Readys with
        // something to apply, so an idle cluster would hold the snapshot until the next write.
        _queue.Wake();
    }

    /// <summary>A snapshot sent to a follower finished; compaction resumes (after a delay when it arrived).</summary>
    public void SnapshotSent(bool succeeded) => _snapshots.Sent(succeeded);

    /// <summary>
    /// Stops taking work; items already queued are still applied while the runner has signalled
    /// their disk writes, then the loop ends.
    /// </summary>
    public Task StopAsync()
    {
        _queue.CompleteAdding();
        _abort.Cancel();
        return Completion;
    }

    private void Run()
    {
        try
        {
            while (true)
            {
                // While a snapshot is due but held back, look again now and then even if nothing
                // new is committed, so that an idle member still takes it.
                var wait = _snapshots.IsDue(_progress) ? (int)SnapshotRecheck.TotalMilliseconds : Timeout.Infinite;
                if (!_queue.TryTake(out var item, wait))
                {
                    if (_queue.IsCompleted)
                        break;
                    // Between items: everything applied so far is on disk (its notify was taken).
                    TriggerSnapshot();
                    SendMergedSnapshot();
                    continue;
                }
                _notify = item.Notify;
                if (!CoreAdapter.RunApply(this, CoreAdapter.PlanApply(_progress, item.Entries, item.Snapshot)))
                    break;
            }
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
        }
        catch (RaftException ex) when (ex.Code == RaftErrorCode.Stopped)
        {
        }
        catch (Exception ex)
        {
            _log.LogCritical(ex, "apply loop failed; stopping the member");
            _sink.OnFatal(ex);
        }
        finally
        {
            _done.TrySetResult();
        }
    }

    /// <summary>How often a due but held-back snapshot is looked at again while nothing is applied.</summary>
    private static readonly TimeSpan SnapshotRecheck = TimeSpan.FromMilliseconds(100);

    // ------------------------------------------------------------------------------------------
    // The steps (IApplyHandler).

    /// <summary>
    /// Takes the notify signal; during shutdown only a signal already posted counts (the runner
    /// stops at a Ready boundary, so it posted everything for the Readys it finished).
    /// </summary>
    public bool WaitPersisted()
    {
        if (_abort.IsCancellationRequested)
            return _notify.TryTakeNow();
        _notify.Take(_wake, _abort.Token);
        _runner.NotifyTaken();
        return true;
    }

    /// <summary>etcd's applySnapshot, once the runner has persisted the snapshot.</summary>
    public void RestoreSnapshot(Snapshot snap)
    {
        _metrics.SnapshotApplyStarted();
        try
        {
            _log.LogInformation(
                "applying snapshot, current-snapshot-index {Snapi}, current-applied-index {Appliedi}, incoming-leader-snapshot-index {Index}, incoming-leader-snapshot-term {Term}",
                _progress.SnapshotIndex, _progress.AppliedIndex, snap.Metadata.Index, snap.Metadata.Term);
            // etcd 3.5's gofail sites around opening the snapshot's backend; here the state
            // machine restores itself from the snapshot's data.
            _failpoints?.Hit(Failpoint.ApplyBeforeOpenSnapshot);
            var (cluster, smData) = SnapshotEnvelope.Unpack(snap.Data);
            if (_persistent is null)
                _sm.Restore(smData);
            else
            {
                // The transport wrote the leader's checkpoint here, fsynced, before raft had the
                // message; the WAL has the snapshot by now (the plan waited for it).
                var path = Storage.NodeStorage.CheckpointPath(_dataDir, snap.Metadata.Index);
                if (!File.Exists(path))
                    throw new InvalidOperationException($"broken invariant: the checkpoint for snapshot {snap.Metadata.Index} is not at {path}");
                _persistent.InstallCheckpoint(path, snap.Metadata.Index);
            }
            _failpoints?.Hit(Failpoint.ApplyAfterOpenSnapshot);
            _membership.Restore(cluster, snap.Metadata.ConfState);
            _progress = new ApplyProgress(snap.Metadata.Index, snap.Metadata.Term, snap.Metadata.Index);
            _log.LogInformation("applied snapshot, snapshot-index {Index}", snap.Metadata.Index);
        }
        finally
        {
            _metrics.SnapshotApplyFinished();
        }
    }

    /// <summary>etcd's applyEntries and apply.</summary>
    public void ApplyEntries(Entry[] entries)
    {
        foreach (var e in entries)
        {
            switch (CoreAdapter.KindOf(e.Type))
            {
                case EntryKindOfLog.Normal:
                    _failpoints?.Hit(Failpoint.BeforeApplyOneEntryNormal);
                    ApplyNormal(e);
                    break;
                case EntryKindOfLog.ConfChange:
                    _failpoints?.Hit(Failpoint.BeforeApplyOneConfChange);
                    _removedSelf |= _membership.ApplyConfChange(e);
                    break;
                default:
                    throw new InvalidOperationException($"broken invariant: unknown entry type {e.Type} at index {e.Index}; must be EntryNormal or EntryConfChange");
            }
            _progress = new ApplyProgress(e.Index, e.Term, _progress.SnapshotIndex);
        }
    }

    public bool EndIfRemoved()
    {
        if (!_removedSelf)
            return true;
        _sink.OnRemovedSelf();
        return false;
    }

    public void PublishApplied(ulong index)
    {
        _metrics.SetApplied(index);
        _appliedWait.Trigger(index);
    }

    public void TriggerSnapshot() => _progress = _snapshots.Trigger(_progress, _membership.ConfState, _membership.Cluster);

    public void SendMergedSnapshot() => _snapshots.SendMerged(_progress, _membership.ConfState, _membership.Cluster);

    private void ApplyNormal(Entry e)
    {
        var (kind, id, payload) = EntryData.Parse(e.Data);
        switch (kind)
        {
            case EntryKind.Noop:
                _sink.OnFirstCommitInTerm();
                break;
            case EntryKind.Command when e.Index <= _durableAtStart:
                // The persistent state machine holds it already (etcd's consistent index check).
                break;
            case EntryKind.Command:
                var started = Stopwatch.GetTimestamp();
                var result = _sm.Apply(e.Index, payload);
                _metrics.Applied(Stopwatch.GetElapsedTime(started));
                _waits.Trigger(id, result);
                break;
            case EntryKind.MemberAttributes:
                _membership.ApplyAttributes(id, payload.Span);
                break;
            default:
                if (!_warnedUnknown)
                {
                    _warnedUnknown = true;
                    _log.LogWarning("skipping entry {Index} with data this node does not recognise (first byte {Tag})", e.Index, e.Data[0]);
                }
                break;
        }
    }
}
