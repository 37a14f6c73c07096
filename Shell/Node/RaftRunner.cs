using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.Shell.Storage;

using Raft.Shell.Node.Advanced;

namespace Raft.Shell.Node;

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
/// the plan and hands it to the <see cref="ReadyInterpreter"/>. Runs on a dedicated thread.
/// </summary>
internal sealed class RaftRunner
{
    private readonly RunnerSettings _s;
    private readonly IRunnerSink _sink;
    private readonly ReadyInterpreter _interpreter;
    private readonly SnapshotCreator _snapshots;
    private readonly ConcurrentQueue<RunnerInput> _inbox = new();
    private readonly ConcurrentQueue<ApplySideRequest> _applySide = new();
    // No spinning before blocking: the threads that wake the runner need the core it would spin on.
    private readonly WakeEvent _wake = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<ProposeInput> _waitingForLeader = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Thread _thread;

    private RawNode _rn;
    private volatile RawNode _published;
    private PlannerState _plannerState = CoreAdapter.InitialPlannerState;
    private int _pendingMessages;
    private int _waitingForNotify;
    private bool _wokeFromWait;
    private TimeSpan _nextTick;
    private Exception? _failure;

    public RaftRunner(RawNode rn, RunnerSettings settings, IRunnerSink sink)
    {
        _rn = rn;
        _published = rn;
        _s = settings;
        _sink = sink;
        _interpreter = new ReadyInterpreter(this, settings, sink);
        _snapshots = new SnapshotCreator(this, settings);
        _thread = new Thread(Run) { IsBackground = true, Name = $"raft-runner-{CoreAdapter.Id(rn):x}" };
    }

    /// <summary>The node as of the end of the last operation; safe to read from any thread.</summary>
    public RawNode Current => _published;

    /// <summary>The node itself, for the runner's helpers on the runner's thread.</summary>
    internal RawNode Node
    {
        get => _rn;
        set => _rn = value;
    }

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

    /// <summary>
    /// Whether the loop may write messages to idle peer connections itself (see
    /// <see cref="Transport.InlineSend"/>): it woke from a wait for this round, so inputs come one at
    /// a time, and none waits now. Under load the loop does not wait between rounds, and a pool
    /// thread sends while it goes on. Read on the loop's thread only.
    /// </summary>
    internal bool MaySendInline => _wokeFromWait && _inbox.IsEmpty && _applySide.IsEmpty;

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

    /// <summary>
    /// The apply loop took a notify signal: wakes the loop only if it waits for that slot (see
    /// <see cref="PostNotify"/>). Otherwise the runner is busy or asleep until its next input, and a
    /// wake-up per Ready would only cost a context switch on the core the others need.
    /// </summary>
    public void NotifyTaken()
    {
        // Read after the caller's interlocked take of the slot; PostNotify sets the flag before
        // its interlocked post, so one of the two sees the other.
        if (Volatile.Read(ref _waitingForNotify) != 0)
            _wake.Set();
    }

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
                _rn = CoreAdapter.DrainLogs(_rn, _s.Logger);
                if (CoreAdapter.HasReady(_rn))
                    HandleReady();
                _published = _rn;
                _wokeFromWait = false;
                if (!_inbox.IsEmpty || !_applySide.IsEmpty || CoreAdapter.HasReady(_rn))
                    continue;
                var wait = _nextTick - _clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    _wake.Wait(wait);
                    _wokeFromWait = true;
                }
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
        _snapshots.Saves.ContinueWith(t =>
        {
            if (t.Exception is { } ex)
                _s.Logger.LogError(ex, "saving a snapshot failed");
            _done.TrySetResult();
            FailApplySide();
        }, TaskScheduler.Default);
    }

    private void TickIfDue()
    {
        var now = _clock.Elapsed;
        if (now < _nextTick)
            return;
        _rn = CoreAdapter.Tick(_rn);
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
                _rn = CoreAdapter.Step(_rn, s.Message);
                break;
            case ProposeInput p:
                if (CoreAdapter.AdmitProposal(_rn))
                    Propose(p);
                else
                    _waitingForLeader.Add(p);
                break;
            case ReadIndexInput r:
                _rn = CoreAdapter.ReadIndex(_rn, r.Context);
                break;
            case UnreachableInput u:
                _rn = CoreAdapter.ReportUnreachable(_rn, u.Id);
                break;
            case SnapshotStatusInput ss:
                _rn = CoreAdapter.ReportSnapshot(_rn, ss.Id, ss.Status);
                break;
            case TransferLeaderInput t:
                _rn = CoreAdapter.TransferLeader(_rn, t.Transferee);
                break;
            case AdvanceTicksInput a:
                for (var i = 0; i < a.Ticks; i++)
                    _rn = CoreAdapter.Tick(_rn);
                break;
        }
    }

    private void Propose(ProposeInput p)
    {
        if (!p.Claim())
            return;
        var (rn, outcome, error) = CoreAdapter.Propose(_rn, p.Data, p.ConfChange);
        _rn = rn;
        if (outcome == ProposalOutcome.Accepted)
            return;
        _s.Metrics.ProposalFailed();
        p.Applied.TrySetException(outcome == ProposalOutcome.Dropped
            ? new Raft.Interop.RaftException(Raft.Interop.RaftErrorCode.ProposalDropped, "raft proposal dropped")
            : new Raft.Interop.RaftException(Raft.Interop.RaftErrorCode.Unhealthy, $"proposal refused: {error}"));
    }

    /// <summary>Proposals held while no leader was known go in once there is one.</summary>
    private void ProposeWaiting()
    {
        if (!CoreAdapter.ReleaseHeldProposals(_rn, _waitingForLeader.Count))
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
                    var (rn, cs) = CoreAdapter.ApplyConfChange(_rn, a.ConfChange);
                    _rn = rn;
                    a.Done.TrySetResult(cs);
                    break;
                case CreateSnapshotRequest c:
                    _snapshots.Create(c);
                    break;
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // One Ready.

    private void HandleReady()
    {
        var (rd, rn) = CoreAdapter.Ready(_rn);
        _rn = rn;
        var plan = _s.Planner(CoreAdapter.PlanInput(rd, _sink.IsRemoved, _clock.Elapsed, _s.HeartbeatInterval), _plannerState);
        _plannerState = plan.State;
        _interpreter.Run(rd, plan);
    }

    /// <summary>
    /// Posts into the Ready's notify slot, waiting while it is full. Meanwhile the apply loop may
    /// need the runner (a conf change to apply, a snapshot to record): those requests are served
    /// here, so the wait cannot deadlock.
    /// </summary>
    internal void PostNotify(NotifySlot notify)
    {
        if (notify.TryPost())
            return;
        Volatile.Write(ref _waitingForNotify, 1);
        try
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
        finally
        {
            Volatile.Write(ref _waitingForNotify, 0);
        }
    }
}
