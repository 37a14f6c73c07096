using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.Interop;

using Raft.Shell.Node.Advanced;

namespace Raft.Shell.Node;

/// <summary>
/// The apply loop's snapshots: when to take one (Core's SnapshotPlanner decides; this class
/// supplies the clock and what is in flight), capturing the state machine, and the MsgSnaps it
/// merges with a snapshot and sends to followers (compaction waits while any is in flight).
/// </summary>
internal sealed class SnapshotScheduler(
    ulong self,
    IStateMachine stateMachine,
    RaftRunner runner,
    IPeerTransport transport,
    SnapshotSettings settings,
    ILogger log,
    IApplySink sink,
    CancellationToken abort)
{
    private readonly BlockingCollection<Message> _msgSnaps = new(new ConcurrentQueue<Message>(), Defaults.MaxInFlightMsgSnap);
    private Task<long> _saved = Task.FromResult(0L);
    private long _started;
    private bool _any;
    private int _inflightSnapshots;
    private readonly StateMachineKind _kind = CoreAdapter.KindOf(stateMachine);

    /// <summary>
    /// How long a snapshot's time, from trigger to saved, holds back the next: snapshots of a large
    /// state take at most a tenth of the time. With a quarter, the three members of a cluster on
    /// two cores spent a third of their CPU on snapshots of a store of 300,000 keys under a put load.
    /// </summary>
    internal const int PauseFactor = 9;

    /// <summary>Snapshots being sent to followers; compaction waits while there are any.</summary>
    public int InflightSnapshots => Volatile.Read(ref _inflightSnapshots);

    /// <summary>Whether a snapshot is due (held back or not): the idle apply loop then looks again now and then.</summary>
    public bool IsDue(ApplyProgress progress) => CoreAdapter.SnapshotDue(settings, progress);

    /// <summary>
    /// etcd's triggerSnapshot, paced as Core's SnapshotPlanner.decide says, taken in the steps
    /// SnapshotPlanner.capture gives. A state machine that can capture its state
    /// (<see cref="ISnapshotCapture"/>) is serialized on another thread, as etcd marshals its store
    /// clone in the background; a persistent one (<see cref="IPersistentStateMachine"/>) is made
    /// durable first and its snapshot carries the membership only.
    /// </summary>
    /// <returns>The progress with the snapshot index moved when a snapshot was triggered.</returns>
    public ApplyProgress Trigger(ApplyProgress progress, ConfState confState, Membership.ClusterView cluster)
    {
        if (abort.IsCancellationRequested)
            return progress;
        var now = Stopwatch.GetTimestamp();
        var succeeded = _any && _saved.IsCompletedSuccessfully;
        var order = CoreAdapter.DecideSnapshot(settings, progress, inFlight: !_saved.IsCompleted,
            succeeded ? Stopwatch.GetElapsedTime(0, _started) : null,
            succeeded ? Stopwatch.GetElapsedTime(0, _saved.Result) : null,
            InflightSnapshots, Stopwatch.GetElapsedTime(0, now));
        if (order is null)
            return progress;
        log.LogInformation(
            "triggering snapshot, local-member-id {Self:x}, local-member-applied-index {Appliedi}, local-member-snapshot-index {Snapi}, local-member-snapshot-count {Count}",
            self, progress.AppliedIndex, progress.SnapshotIndex, settings.SnapshotCount);
        _started = now;
        _any = true;
        var steps = new CaptureSteps(this, order, confState, cluster);
        CoreAdapter.RunCapture(steps, _kind);
        _saved = steps.Saved ?? throw new InvalidOperationException("broken invariant: the capture plan did not hand the snapshot to the raft loop");
        return new ApplyProgress(progress.AppliedIndex, progress.AppliedTerm, order.Index);
    }

    /// <summary>A MsgSnap redirected by the planner; dropped when 16 are already waiting, as etcd does.</summary>
    public void Offer(Message m)
    {
        if (!_msgSnaps.TryAdd(m))
            log.LogWarning("dropped MsgSnap to {To:x}: too many snapshots waiting to be sent", m.To);
    }

    /// <summary>
    /// etcd's createMergedSnapshotMessage and sendMergedSnap for one waiting MsgSnap, if any: it
    /// gets a fresh snapshot of the state machine at the applied index and goes out on the
    /// transport's snapshot path.
    /// </summary>
    public void SendMerged(ApplyProgress progress, ConfState confState, Membership.ClusterView cluster)
    {
        if (!_msgSnaps.TryTake(out var m))
            return;
        if (stateMachine is IPersistentStateMachine persistent)
        {
            SendCheckpoint(m, persistent, progress, confState, cluster);
            return;
        }
        var data = SnapshotEnvelope.Pack(cluster, stateMachine.TakeSnapshot());
        var snapshot = new Snapshot(data, new SnapshotMetadata(confState, progress.AppliedIndex, progress.AppliedTerm));
        Interlocked.Increment(ref _inflightSnapshots);
        log.LogInformation("sending merged snapshot from {From:x} to {To:x}, {Bytes} bytes, index {Index}", m.From, m.To, data.Length, progress.AppliedIndex);
        transport.SendSnapshot(WithSnapshot(m, snapshot));
    }

    /// <summary>
    /// A persistent state machine's MsgSnap: the raft snapshot carries the membership only, and a
    /// checkpoint of the store, begun here at the applied index, streams after it (etcd sends its
    /// backend's database the same way).
    /// </summary>
    private void SendCheckpoint(Message m, IPersistentStateMachine persistent, ApplyProgress progress, ConfState confState, Membership.ClusterView cluster)
    {
        var checkpoint = persistent.BeginCheckpoint();
        // Entries after the checkpoint's own index up to the applied one carried nothing for the
        // state machine; one past the applied index would describe entries the snapshot lacks.
        if (checkpoint.Index > progress.AppliedIndex)
        {
            checkpoint.Dispose();
            throw new InvalidOperationException(
                $"broken invariant: the state machine's checkpoint is at index {checkpoint.Index}, past the applied index {progress.AppliedIndex}");
        }
        var snapshot = new Snapshot(SnapshotEnvelope.Pack(cluster, []), new SnapshotMetadata(confState, progress.AppliedIndex, progress.AppliedTerm));
        Interlocked.Increment(ref _inflightSnapshots);
        log.LogInformation("sending merged snapshot from {From:x} to {To:x} with a streamed checkpoint, index {Index}", m.From, m.To, progress.AppliedIndex);
        transport.SendSnapshot(WithSnapshot(m, snapshot), checkpoint);
    }

    private static Message WithSnapshot(Message m, Snapshot snapshot) =>
        new(m.Type, m.To, m.From, m.Term, m.LogTerm, m.Index, m.Entries, m.Commit, snapshot, m.Reject, m.RejectHint, m.Context);

    /// <summary>A snapshot sent to a follower finished; compaction resumes (after a delay when it arrived).</summary>
    public void Sent(bool succeeded)
    {
        if (!succeeded)
        {
            Interlocked.Decrement(ref _inflightSnapshots);
            return;
        }
        // etcd keeps compaction paused a while longer so the follower can catch up from the log.
        _ = Task.Delay(Defaults.ReleaseDelayAfterSnapshot, abort)
            .ContinueWith(_ => Interlocked.Decrement(ref _inflightSnapshots), TaskScheduler.Default);
    }

    /// <summary>The apply loop's steps of taking a snapshot, in the order Core's SnapshotPlanner.capture gives.</summary>
    private IStateMachine StateMachine => stateMachine;

    private RaftRunner Runner => runner;

    private ILogger Log => log;

    private IApplySink Sink => sink;

    private sealed class CaptureSteps(SnapshotScheduler scheduler, SnapshotOrder order, ConfState confState, Membership.ClusterView cluster)
        : ICaptureHandler
    {
        private byte[]? _data;
        private Func<byte[]>? _serialize;

        /// <summary>Completes when the raft loop has saved the snapshot; null until it is handed on.</summary>
        public Task<long>? Saved { get; private set; }

        public void PersistState() => ((IPersistentStateMachine)scheduler.StateMachine).Persist(order.Index);

        public void CaptureState()
        {
            if (scheduler.StateMachine is ISnapshotCapture capture)
                _serialize = capture.CaptureSnapshot();
            else
                _data = SnapshotEnvelope.Pack(cluster, scheduler.StateMachine.TakeSnapshot());
        }

        public void MembershipOnly() => _data = SnapshotEnvelope.Pack(cluster, []);

        public void PostToRaftLoop()
        {
            if (_data is { } data)
            {
                var request = new CreateSnapshotRequest(order, confState, data);
                Saved = request.Saved.Task;
                scheduler.Runner.PostFromApply(request);
                return;
            }
            var serialize = _serialize ?? throw new InvalidOperationException("broken invariant: nothing captured before the snapshot was handed on");
            // On a thread of its own: a serialization that takes seconds on a pool thread makes the
            // pool add threads, which then contend for the few cores with the loops.
            Saved = Task.Factory.StartNew(() =>
            {
                try
                {
                    var request = new CreateSnapshotRequest(order, confState, SnapshotEnvelope.Pack(cluster, serialize()));
                    scheduler.Runner.PostFromApply(request);
                    return request.Saved.Task;
                }
                catch (Exception ex)
                {
                    scheduler.Log.LogCritical(ex, "taking a snapshot failed; stopping the member");
                    scheduler.Sink.OnFatal(ex);
                    throw;
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        }
    }
}
