using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using Raft.Core;
using Raft.Shell.Storage;

namespace Raft.Shell.Node;

/// <summary>Turns a Ready into its plan; the shell runs the plan's effects in order and decides nothing.</summary>
public delegate Plan PlannerFunction(PlanInput input, PlannerState state);

/// <summary>What the runner needs besides the RawNode.</summary>
internal sealed record RunnerSettings(
    TimeSpan HeartbeatInterval,
    PlannerFunction Planner,
    NodeStorage Storage,
    IPeerTransport Transport,
    FailpointSet? Failpoints,
    ILogger Logger,
    NodeMetrics Metrics,
    int MaxPendingMessages,
    int MaxWalFiles,
    int MaxSnapFiles,
    ulong SnapshotCatchUpEntries);

/// <summary>
/// The one loop that owns the RawNode (the seed's raftNode.start). It ticks on the heartbeat
/// interval, steps messages, takes proposals and reports, pulls each Ready, asks the planner for
/// the plan and runs the plan's effects in the order given. Runs on a dedicated thread.
/// </summary>
internal sealed class RaftRunner
{
    private readonly RunnerSettings _s;
    private readonly IRunnerSink _sink;
    private readonly ConcurrentQueue<RunnerInput> _inbox = new();
    private readonly ConcurrentQueue<ApplySideRequest> _applySide = new();
    // No spinning before blocking: the threads that wake the runner need the core it would spin on.
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<ProposeInput> _waitingForLeader = [];
    private readonly FSharpFunc<ulong, bool> _isRemoved;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Thread _thread;

    private RawNode _rn;
    private volatile RawNode _published;
    private PlannerState _plannerState = Planner.initial;
    private int _pendingMessages;
    private TimeSpan _nextTick;
    private Task _snapshotSaves = Task.CompletedTask;
    private Exception? _failure;

    public RaftRunner(RawNode rn, RunnerSettings settings, IRunnerSink sink)
    {
        _rn = rn;
        _published = rn;
        _s = settings;
        _sink = sink;
        _isRemoved = FuncConvert.FromFunc<ulong, bool>(sink.IsRemoved);
        _thread = new Thread(Run) { IsBackground = true, Name = $"raft-runner-{RawNodeModule.id(rn):x}" };
    }

    /// <summary>The node as of the end of the last operation; safe to read from any thread.</summary>
    public RawNode Current => _published;

    /// <summary>Completes when the loop has ended (and the WAL work it started is done).</summary>
    public Task Completion => _done.Task;

    /// <summary>Why the loop failed, if it did.</summary>
    public Exception? Failure => Volatile.Read(ref _failure);

    public void Start()
    {
        _nextTick = _clock.Elapsed + _s.HeartbeatInterval;
        _thread.Start();
    }

    /// <summary>Asks the loop to end after the Ready in hand (the seed's stop).</summary>
    public Task StopAsync()
    {
        _stop.Cancel();
        _wake.Set();
        return Completion;
    }

    public bool IsStopping => _stop.IsCancellationRequested;

    // ------------------------------------------------------------------------------------------
    // Inputs (any thread).

    public void Post(RunnerInput input)
    {
        _inbox.Enqueue(input);
        _wake.Set();
    }

    /// <summary>
    /// Offers a peer's message; false when too many are waiting (etcd's bounded recvc drops then,
    /// and raft's retransmission recovers).
    /// </summary>
    public bool TryStep(Message m)
    {
        if (Interlocked.Increment(ref _pendingMessages) > _s.MaxPendingMessages)
        {
            Interlocked.Decrement(ref _pendingMessages);
            return false;
        }
        Post(new StepInput(m));
        return true;
    }

    /// <summary>Queues a request of the apply loop; it is served even while the runner waits for the apply loop.</summary>
    public void PostFromApply(ApplySideRequest request)
    {
        _applySide.Enqueue(request);
        _wake.Set();
        // The loop may have ended (and drained the queue) just before the enqueue.
        if (_done.Task.IsCompleted)
            FailApplySide();
    }

    private void FailApplySide()
    {
        var stopped = new Raft.Interop.RaftException(Raft.Interop.RaftErrorCode.Stopped, "the node has stopped");
        while (_applySide.TryDequeue(out var req))
            req.Fail(stopped);
    }

    /// <summary>Wakes the loop (the apply loop took a notify signal).</summary>
    public void Wake() => _wake.Set();

    // ------------------------------------------------------------------------------------------
    // The loop.

    private void Run()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                _wake.Reset();
                ServeApplySide();
                DrainInbox();
                ProposeWaiting();
                TickIfDue();
                DrainLogs();
                if (RawNodeModule.hasReady(_rn))
                    HandleReady();
                _published = _rn;
                if (!_inbox.IsEmpty || !_applySide.IsEmpty || RawNodeModule.hasReady(_rn))
                    continue;
                var wait = _nextTick - _clock.Elapsed;
                if (wait > TimeSpan.Zero)
                    _wake.Wait(wait);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Stopped while waiting for the apply loop: the Ready in hand is abandoned, as the seed's
            // loop returns on r.stopped there.
        }
        catch (Exception ex)
        {
            Volatile.Write(ref _failure, ex);
            _s.Logger.LogCritical(ex, "raft loop failed; stopping the member");
            _sink.OnFatal(ex);
        }
        finally
        {
            _published = _rn;
            Shutdown();
        }
    }

    private void Shutdown()
    {
        var stopped = new Raft.Interop.RaftException(Raft.Interop.RaftErrorCode.Stopped, "the node has stopped");
        foreach (var p in _waitingForLeader)
            p.Applied.TrySetException(stopped);
        _waitingForLeader.Clear();
        while (_inbox.TryDequeue(out var input))
            if (input is ProposeInput p)
                p.Applied.TrySetException(stopped);
        // Mark done before failing apply-side requests, so that later ones fail at once.
        _snapshotSaves.ContinueWith(t =>
        {
            if (t.Exception is { } ex)
                _s.Logger.LogError(ex, "saving a snapshot failed");
            _done.TrySetResult();
            FailApplySide();
        }, TaskScheduler.Default);
    }

    private void DrainLogs()
    {
        var (lines, rn) = RawNodeModule.drainLogs(_rn);
        if (!lines.IsEmpty)
        {
            _rn = rn;
            CoreLog.Write(_s.Logger, lines);
        }
    }

    private void TickIfDue()
    {
        var now = _clock.Elapsed;
        if (now < _nextTick)
            return;
        _rn = RawNodeModule.tick(_rn);
        _nextTick += _s.HeartbeatInterval;
        // A loop held up for several intervals ticks once and starts afresh, as Go's ticker drops
        // the ticks it could not deliver.
        if (_nextTick < now)
            _nextTick = now + _s.HeartbeatInterval;
    }

    private void DrainInbox()
    {
        // Bounded per round, so that a flood of messages cannot starve ticks and Readys.
        for (var n = 0; n < 4096 && _inbox.TryDequeue(out var input); n++)
            Handle(input);
    }

    private void Handle(RunnerInput input)
    {
        switch (input)
        {
            case StepInput s:
                Interlocked.Decrement(ref _pendingMessages);
                _rn = RawNodeModule.step(s.Message, _rn).Item1;
                break;
            case ProposeInput p:
                if (RawNodeModule.raft(_rn).Lead == 0)
                    _waitingForLeader.Add(p);
                else
                    Propose(p);
                break;
            case ReadIndexInput r:
                _rn = RawNodeModule.readIndex(r.Context, _rn);
                break;
            case UnreachableInput u:
                _rn = RawNodeModule.reportUnreachable(u.Id, _rn);
                break;
            case SnapshotStatusInput ss:
                _rn = RawNodeModule.reportSnapshot(ss.Id, ss.Status, _rn);
                break;
            case TransferLeaderInput t:
                _rn = RawNodeModule.transferLeader(t.Transferee, _rn);
                break;
            case AdvanceTicksInput a:
                for (var i = 0; i < a.Ticks; i++)
                    _rn = RawNodeModule.tick(_rn);
                break;
        }
    }

    private void Propose(ProposeInput p)
    {
        if (!p.Claim())
            return;
        var (rn, result) = p.ConfChange is { } cc
            ? RawNodeModule.proposeConfChange(ConfChangeI.NewV1(cc), _rn)
            : RawNodeModule.propose(p.Data, _rn);
        _rn = rn;
        if (result.IsOk)
            return;
        _s.Metrics.ProposalFailed();
        var error = result.ErrorValue;
        p.Applied.TrySetException(error.IsErrProposalDropped
            ? new Raft.Interop.RaftException(Raft.Interop.RaftErrorCode.ProposalDropped, "raft proposal dropped")
            : new Raft.Interop.RaftException(Raft.Interop.RaftErrorCode.Unhealthy, $"proposal refused: {RaftErrorModule.message(error)}"));
    }

    /// <summary>Proposals held while no leader was known go in once there is one.</summary>
    private void ProposeWaiting()
    {
        if (_waitingForLeader.Count == 0 || RawNodeModule.raft(_rn).Lead == 0)
            return;
        foreach (var p in _waitingForLeader)
            Propose(p);
        _waitingForLeader.Clear();
    }

    private void ServeApplySide()
    {
        while (_applySide.TryDequeue(out var req))
        {
            switch (req)
            {
                case ApplyConfChangeRequest a:
                    var (rn, cs) = RawNodeModule.applyConfChange(ConfChangeI.NewV1(a.ConfChange), _rn);
                    _rn = rn;
                    a.Done.TrySetResult(cs);
                    break;
                case CreateSnapshotRequest c:
                    CreateSnapshot(c);
                    break;
            }
        }
    }

    /// <summary>
    /// etcd's EtcdServer.snapshot: record the snapshot in the raft storage, compact the in-memory
    /// log leaving catch-up entries, and save the snapshot to disk in the background (the WAL is
    /// safe to share), then release the WAL and purge old files.
    /// </summary>
    private void CreateSnapshot(CreateSnapshotRequest c)
    {
        var created = RawNodeModule.createSnapshot(c.Index, FSharpOption<ConfState>.Some(c.ConfState), c.Data, _rn);
        if (created.IsError)
        {
            // The log moved past it meanwhile (a newer snapshot arrived): nothing to do, as in etcd.
            if (created.ErrorValue.IsErrSnapOutOfDate)
            {
                c.Saved.TrySetResult(Stopwatch.GetTimestamp());
                return;
            }
            throw new InvalidOperationException($"broken invariant: failed to create snapshot at {c.Index}: {StorageErrorModule.message(created.ErrorValue)}");
        }
        var (snap, withSnap) = created.ResultValue;
        _rn = withSnap;
        if (c.Compact)
        {
            var compactIndex = c.Index > _s.SnapshotCatchUpEntries ? c.Index - _s.SnapshotCatchUpEntries : 1UL;
            var compacted = RawNodeModule.compact(compactIndex, _rn);
            if (compacted.IsOk)
            {
                _rn = compacted.ResultValue;
                _s.Logger.LogInformation("compacted Raft logs, compact-index {CompactIndex}", compactIndex);
            }
            else if (!compacted.ErrorValue.IsErrCompacted)
                throw new InvalidOperationException($"broken invariant: failed to compact at {compactIndex}: {StorageErrorModule.message(compacted.ErrorValue)}");
        }
        else
        {
            _s.Logger.LogInformation("skip compaction since there is an inflight snapshot");
        }
        _snapshotSaves = _snapshotSaves.ContinueWith(_ =>
        {
            try
            {
                var started = Stopwatch.GetTimestamp();
                _s.Storage.SaveSnap(snap);
                _s.Storage.Release(snap);
                _s.Metrics.SnapSave(Stopwatch.GetElapsedTime(started));
                _s.Logger.LogInformation("saved snapshot, snapshot-index {Index}", snap.Metadata.Index);
                _s.Storage.Purge(_s.MaxWalFiles, _s.MaxSnapFiles);
                c.Saved.TrySetResult(Stopwatch.GetTimestamp());
            }
            catch (Exception ex)
            {
                c.Saved.TrySetException(ex);
                throw;
            }
        }, CancellationToken.None, TaskContinuationOptions.LongRunning, TaskScheduler.Default); // seconds of disk work for a large state: not on a pool thread
    }

    // ------------------------------------------------------------------------------------------
    // One Ready.

    private void HandleReady()
    {
        var (rd, rn) = RawNodeModule.ready(_rn);
        _rn = rn;
        var input = new PlanInput(rd, _isRemoved, _clock.Elapsed, _s.HeartbeatInterval);
        var plan = _s.Planner(input, _plannerState);
        _plannerState = plan.State;

        var notify = new NotifySlot();
        var applied = false;
        foreach (var effect in plan.Effects)
        {
            switch (effect.Tag)
            {
                case Effect.Tags.UpdateSoftState:
                    _sink.OnLeaderUpdate(((Effect.UpdateSoftState)effect).Item, RawNodeModule.raft(_rn).Term);
                    break;
                case Effect.Tags.PublishReadState:
                    _sink.OnReadState(((Effect.PublishReadState)effect).Item);
                    break;
                case Effect.Tags.Apply:
                    RunApply(((Effect.Apply)effect).Item, notify);
                    applied = true;
                    break;
                case Effect.Tags.Save:
                    var save = (Effect.Save)effect;
                    Fire(applied ? Failpoint.RaftBeforeSave : Failpoint.RaftBeforeSaveWaitWalSync);
                    var started = Stopwatch.GetTimestamp();
                    _s.Storage.Save(save.hardState, save.entries, save.mustSync);
                    if (save.mustSync)
                        _s.Metrics.WalFsync(Stopwatch.GetElapsedTime(started));
                    Fire(Failpoint.RaftAfterSave);
                    break;
                case Effect.Tags.ProposalsCommitted:
                    _s.Metrics.SetCommitted(((Effect.ProposalsCommitted)effect).Item);
                    break;
                case Effect.Tags.Send:
                    Fire(_plannerState.IsLeader ? Failpoint.RaftBeforeLeaderSend : Failpoint.RaftBeforeFollowerSend);
                    _s.Transport.Send(ListModule.ToArray(((Effect.Send)effect).Item));
                    break;
                case Effect.Tags.SaveSnapshot:
                    Fire(Failpoint.RaftBeforeSaveSnap);
                    _s.Storage.SaveSnap(((Effect.SaveSnapshot)effect).Item);
                    Fire(Failpoint.RaftAfterSaveSnap);
                    break;
                case Effect.Tags.Sync:
                    var syncStarted = Stopwatch.GetTimestamp();
                    _s.Storage.Sync();
                    _s.Metrics.WalFsync(Stopwatch.GetElapsedTime(syncStarted));
                    break;
                case Effect.Tags.NotifyPersisted:
                case Effect.Tags.WaitApplied:
                    PostNotify(notify);
                    break;
                case Effect.Tags.ApplySnapshotToLog:
                    var snap = ((Effect.ApplySnapshotToLog)effect).Item;
                    Fire(Failpoint.RaftBeforeApplySnap);
                    var withSnap = RawNodeModule.applySnapshotToStorage(snap, _rn);
                    if (withSnap.IsError)
                        throw new InvalidOperationException($"broken invariant: cannot apply snapshot {snap.Metadata.Index} to the raft log: {StorageErrorModule.message(withSnap.ErrorValue)}");
                    _rn = withSnap.ResultValue;
                    _s.Logger.LogInformation("applied incoming Raft snapshot, snapshot-index {Index}", snap.Metadata.Index);
                    Fire(Failpoint.RaftAfterApplySnap);
                    break;
                case Effect.Tags.Release:
                    _s.Storage.Release(((Effect.Release)effect).Item);
                    Fire(Failpoint.RaftAfterWALRelease);
                    break;
                case Effect.Tags.AppendToLog:
                    _rn = RawNodeModule.appendToStorage(((Effect.AppendToLog)effect).Item, _rn);
                    break;
                case Effect.Tags.RedirectSnapshot:
                    _sink.OnRedirectSnapshot(((Effect.RedirectSnapshot)effect).Item);
                    break;
                case Effect.Tags.HeartbeatLate:
                    var late = (Effect.HeartbeatLate)effect;
                    _s.Logger.LogWarning(
                        "leader failed to send out heartbeat on time; took too long, leader is overloaded likely from slow disk; to {To:x}, heartbeat-interval {Interval}, expected-duration {Expected}, exceeded-duration {Exceeded}",
                        late.To, _s.HeartbeatInterval, 2 * _s.HeartbeatInterval, late.Exceeded);
                    _s.Metrics.HeartbeatSendFailure();
                    break;
                case Effect.Tags.Advance:
                    _rn = RawNodeModule.advance(rd, _rn);
                    break;
                default:
                    throw new InvalidOperationException($"broken invariant: unknown effect {effect}");
            }
        }
    }

    private void RunApply(ApplyWork work, NotifySlot notify)
    {
        if (FSharpOption<ulong>.get_IsSome(work.CommittedIndex))
            _sink.OnCommittedIndex(work.CommittedIndex.Value);
        _sink.OnApply(new ApplyItem(work.Entries, work.Snapshot, notify));
    }

    /// <summary>
    /// Posts into the Ready's notify slot, waiting while it is full. Meanwhile the apply loop may
    /// need the runner (a conf change to apply, a snapshot to record): those requests are served
    /// here, so the wait cannot deadlock.
    /// </summary>
    private void PostNotify(NotifySlot notify)
    {
        while (!notify.TryPost())
        {
            ServeApplySide();
            _published = _rn;
            _stop.Token.ThrowIfCancellationRequested();
            _wake.Wait(_stop.Token);
            _wake.Reset();
        }
    }

    private void Fire(Failpoint fp) => _s.Failpoints?.Hit(fp);
}

/// <summary>etcd's fixed numbers that the node uses.</summary>
internal static class Defaults
{
    /// <summary>Entries kept in memory after a snapshot for slow followers (DefaultSnapshotCatchUpEntries).</summary>
    public const ulong SnapshotCatchUpEntries = 5000;

    /// <summary>MsgSnaps the apply side may hold (maxInFlightMsgSnap).</summary>
    public const int MaxInFlightMsgSnap = 16;

    /// <summary>How long compaction stays paused after a snapshot was sent (releaseDelayAfterSnapshot).</summary>
    public static readonly TimeSpan ReleaseDelayAfterSnapshot = TimeSpan.FromSeconds(30);

    /// <summary>How often the read loop re-sends an unanswered ReadIndex (readIndexRetryTime).</summary>
    public static readonly TimeSpan ReadIndexRetryTime = TimeSpan.FromMilliseconds(500);

    /// <summary>Messages received but not yet stepped, beyond which new ones are dropped (recvc's size).</summary>
    public const int MaxPendingMessages = 4096;
}
