using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.FSharp.Collections;
using Raft.Core;
using Raft.Interop;
using Raft.Shell.Node.Membership;

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
/// snapshots in order on a dedicated thread, and waits for the runner exactly where etcd does:
/// before restoring a snapshot and before triggering a snapshot of its own (the notify slot).
/// </summary>
internal sealed class ApplyLoop
{
    private readonly ulong _self;
    private readonly IStateMachine _sm;
    private readonly RaftRunner _runner;
    private readonly IPeerTransport _transport;
    private readonly RequestWaits _waits;
    private readonly AppliedIndexWait _appliedWait;
    private readonly NodeMetrics _metrics;
    private readonly ILogger _log;
    private readonly IApplySink _sink;
    private readonly ulong _snapshotCount;
    private readonly ApplyQueue<ApplyItem> _queue = new();
    private readonly BlockingCollection<Message> _msgSnaps = new(new ConcurrentQueue<Message>(), Defaults.MaxInFlightMsgSnap);
    private readonly CancellationTokenSource _abort = new();
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _thread;
    private int _inflightSnapshots;
    private bool _warnedUnknown;
    private Task<long> _snapshotSaved = Task.FromResult(0L);
    private long _snapshotStarted;

    // etcd's etcdProgress.
    private ConfState _confState;
    private ulong _snapi;
    private ulong _appliedt;
    private ulong _appliedi;
    private volatile ClusterView _cluster;

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
        ulong snapshotCount)
    {
        _self = self;
        _sm = stateMachine;
        _runner = runner;
        _transport = transport;
        _waits = waits;
        _appliedWait = appliedWait;
        _metrics = metrics;
        _log = log;
        _sink = sink;
        _snapshotCount = snapshotCount;
        _confState = snapshot.Metadata.ConfState;
        _snapi = snapshot.Metadata.Index;
        _appliedt = snapshot.Metadata.Term;
        _appliedi = snapshot.Metadata.Index;
        _cluster = cluster;
        _thread = new Thread(Run) { IsBackground = true, Name = $"raft-apply-{self:x}" };
    }

    /// <summary>The applied membership.</summary>
    public ClusterView Cluster => _cluster;

    /// <summary>Completes when the loop has ended.</summary>
    public Task Completion => _done.Task;

    /// <summary>Snapshots being sent to followers; compaction waits while there are any.</summary>
    public int InflightSnapshots => Volatile.Read(ref _inflightSnapshots);

    public void Start() => _thread.Start();

    /// <summary>Queues a Ready's committed entries and snapshot (the seed's applyc; never blocks).</summary>
    public void Enqueue(ApplyItem item) =>
        // False when stopping: nothing more is applied.
        _queue.TryAdd(item);

    /// <summary>A MsgSnap redirected by the planner; dropped when 16 are already waiting, as etcd does.</summary>
    public void OfferMsgSnap(Message m)
    {
        if (!_msgSnaps.TryAdd(m))
            _log.LogWarning("dropped MsgSnap to {To:x}: too many snapshots waiting to be sent", m.To);
    }

    /// <summary>A snapshot sent to a follower finished; compaction resumes (after a delay when it arrived).</summary>
    public void SnapshotSent(bool succeeded)
    {
        if (!succeeded)
        {
            Interlocked.Decrement(ref _inflightSnapshots);
            return;
        }
        // etcd keeps compaction paused a while longer so the follower can catch up from the log.
        _ = Task.Delay(Defaults.ReleaseDelayAfterSnapshot, _abort.Token)
            .ContinueWith(_ => Interlocked.Decrement(ref _inflightSnapshots), TaskScheduler.Default);
    }

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
                var wait = _appliedi - _snapi > _snapshotCount ? (int)SnapshotRecheck.TotalMilliseconds : Timeout.Infinite;
                if (!_queue.TryTake(out var item, wait))
                {
                    if (_queue.IsCompleted)
                        break;
                    TriggerSnapshot();
                    continue;
                }
                if (!ApplyAll(item))
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

    /// <summary>
    /// Takes the notify signal; during shutdown only a signal already posted counts (the runner
    /// stops at a Ready boundary, so it posted everything for the Readys it finished).
    /// </summary>
    private bool TakeNotify(NotifySlot notify)
    {
        if (_abort.IsCancellationRequested)
            return notify.TryTakeNow();
        notify.Take(_abort.Token);
        _runner.Wake();
        return true;
    }

    /// <summary>etcd's applyAll; false when the loop must end.</summary>
    private bool ApplyAll(ApplyItem item)
    {
        if (!ApplySnapshot(item))
            return false;
        var removedSelf = ApplyEntries(item);
        _metrics.SetApplied(_appliedi);
        _appliedWait.Trigger(_appliedi);
        if (removedSelf)
        {
            _sink.OnRemovedSelf();
            return false;
        }

        // Wait for the runner's disk writes before snapshotting, or the applied index could be
        // ahead of the raft log's last index.
        if (!TakeNotify(item.Notify))
            return false;
        TriggerSnapshot();
        if (_msgSnaps.TryTake(out var m))
            SendMergedSnapshot(m);
        return true;
    }

    private bool ApplySnapshot(ApplyItem item)
    {
        var snap = item.Snapshot;
        if (Pb.isEmptySnap(snap))
            return true;
        _metrics.SnapshotApplyStarted();
        try
        {
            _log.LogInformation(
                "applying snapshot, current-snapshot-index {Snapi}, current-applied-index {Appliedi}, incoming-leader-snapshot-index {Index}, incoming-leader-snapshot-term {Term}",
                _snapi, _appliedi, snap.Metadata.Index, snap.Metadata.Term);
            if (snap.Metadata.Index <= _appliedi)
                throw new InvalidOperationException(
                    $"broken invariant: unexpected leader snapshot from outdated index {snap.Metadata.Index} (applied {_appliedi})");

            // Wait for the runner to persist the snapshot.
            if (!TakeNotify(item.Notify))
                return false;

            var (cluster, smData) = SnapshotEnvelope.Unpack(snap.Data);
            _sm.Restore(smData);
            _cluster = cluster;
            _sink.OnCluster(cluster);

            _transport.RemoveAllPeers();
            foreach (var member in cluster.Members.Values)
                if (member.Id != _self)
                    _transport.AddPeer(member.Id, member.PeerUrls);

            _appliedt = snap.Metadata.Term;
            _appliedi = snap.Metadata.Index;
            _snapi = _appliedi;
            _confState = snap.Metadata.ConfState;
            _log.LogInformation("applied snapshot, snapshot-index {Index}", _appliedi);
            return true;
        }
        finally
        {
            _metrics.SnapshotApplyFinished();
        }
    }

    /// <summary>etcd's applyEntries and apply; true when this member applied its own removal.</summary>
    private bool ApplyEntries(ApplyItem item)
    {
        var ents = item.Entries;
        if (ents.Length == 0)
            return false;
        var firsti = ents[0].Index;
        if (firsti > _appliedi + 1)
            throw new InvalidOperationException($"broken invariant: unexpected committed entry index {firsti} (applied {_appliedi})");
        var skip = _appliedi + 1 - firsti;
        var removedSelf = false;
        for (var i = (long)skip; i < ents.Length; i++)
        {
            var e = ents[i];
            switch (e.Type.Tag)
            {
                case EntryType.Tags.EntryNormal:
                    ApplyNormal(e);
                    break;
                case EntryType.Tags.EntryConfChange:
                    removedSelf |= ApplyConfChange(e);
                    break;
                default:
                    throw new InvalidOperationException($"broken invariant: unknown entry type {e.Type} at index {e.Index}; must be EntryNormal or EntryConfChange");
            }
            _appliedi = e.Index;
            _appliedt = e.Term;
        }
        return removedSelf;
    }

    private void ApplyNormal(Entry e)
    {
        var (kind, id, payload) = EntryData.Parse(e.Data);
        switch (kind)
        {
            case EntryKind.Noop:
                _sink.OnFirstCommitInTerm();
                break;
            case EntryKind.Command:
                var started = Stopwatch.GetTimestamp();
                var result = _sm.Apply(e.Index, payload);
                _metrics.Applied(Stopwatch.GetElapsedTime(started));
                _waits.Trigger(id, result);
                break;
            case EntryKind.MemberAttributes:
                var (memberId, name, clientUrls) = EntryData.ParseMemberAttributes(payload.Span);
                if (_cluster.Member(memberId) is not null)
                {
                    _cluster = _cluster.UpdateAttributes(memberId, name, clientUrls);
                    _sink.OnCluster(_cluster);
                }
                _waits.Trigger(id, null);
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

    /// <summary>etcd's applyConfChange; true when it removed this member.</summary>
    private bool ApplyConfChange(Entry e)
    {
        var decoded = Codec.unmarshalConfChange(e.Data);
        if (decoded.IsError)
            throw new InvalidOperationException($"broken invariant: conf change at {e.Index} does not decode: {decoded.ErrorValue}");
        var cc = decoded.ResultValue;
        var error = _cluster.Validate(cc);
        if (error is { } refused)
        {
            // Raft still has to see the change, as a no-op (node id 0).
            AskRunner(new ConfChange(cc.ID, cc.Type, 0UL, cc.Context));
            _waits.Trigger(cc.ID, new ConfChangeResult(_cluster, refused));
            return false;
        }

        _confState = AskRunner(cc);
        var removedSelf = false;
        var id = cc.NodeID;
        switch (cc.Type.Tag)
        {
            case ConfChangeType.Tags.ConfChangeAddNode:
            case ConfChangeType.Tags.ConfChangeAddLearnerNode:
                var ctx = ConfigChangeContext.FromJson(cc.Context);
                if (ctx.Member.Id != id)
                    throw new InvalidOperationException($"broken invariant: got different member ID: {id:x} in the conf change, {ctx.Member.Id:x} in its context");
                if (ctx.IsPromote)
                {
                    _cluster = _cluster.Promote(id);
                }
                else
                {
                    _cluster = _cluster.Add(ctx.Member);
                    if (id != _self)
                        _transport.AddPeer(id, ctx.Member.PeerUrls);
                }
                _log.LogInformation("added member {Id:x} {PeerUrls} (promote: {Promote})", id, ctx.Member.PeerUrls, ctx.IsPromote);
                if (id == _self)
                    _metrics.SetLearner(cc.Type.IsConfChangeAddLearnerNode && !ctx.IsPromote);
                break;
            case ConfChangeType.Tags.ConfChangeRemoveNode:
                _cluster = _cluster.Remove(id);
                _log.LogInformation("removed member {Id:x}", id);
                if (id == _self)
                    removedSelf = true;
                else
                    _transport.RemovePeer(id);
                break;
            case ConfChangeType.Tags.ConfChangeUpdateNode:
                var m = ClusterMember.FromJson(cc.Context);
                if (m.Id != id)
                    throw new InvalidOperationException($"broken invariant: got different member ID: {id:x} in the conf change, {m.Id:x} in its context");
                _cluster = _cluster.UpdatePeerUrls(id, m.PeerUrls);
                if (id != _self)
                    _transport.UpdatePeer(id, m.PeerUrls);
                break;
        }
        _sink.OnCluster(_cluster);
        _waits.Trigger(cc.ID, new ConfChangeResult(_cluster, null));
        return removedSelf;
    }

    /// <summary>RawNode.applyConfChange through the runner, which owns the node.</summary>
    private ConfState AskRunner(ConfChange cc)
    {
        var req = new ApplyConfChangeRequest(cc);
        _runner.PostFromApply(req);
        return req.Done.Task.GetAwaiter().GetResult();
    }

    /// <summary>
    /// etcd's triggerSnapshot: every snapshot-count applied entries. A state machine that can capture
    /// its state (<see cref="ISnapshotCapture"/>) is serialized on another thread, as etcd marshals
    /// its store clone in the background. One at a time, and after one that took a time T from
    /// trigger to saved, the next waits until <see cref="SnapshotPauseFactor"/> × T has passed after it: the
    /// whole state is written each time, so for a large state a fixed count of entries between
    /// snapshots would spend most of the machine rewriting it (etcd's store persists itself and its
    /// snapshots stay small). A small state takes milliseconds and is snapshotted on the count.
    /// </summary>
    private void TriggerSnapshot()
    {
        if (_appliedi - _snapi <= _snapshotCount || _abort.IsCancellationRequested)
            return;
        if (!_snapshotSaved.IsCompleted)
            return;
        var now = Stopwatch.GetTimestamp();
        if (_snapshotSaved.IsCompletedSuccessfully)
        {
            var finished = _snapshotSaved.Result;
            if (now < finished + (finished - _snapshotStarted) * SnapshotPauseFactor)
                return;
        }
        _log.LogInformation(
            "triggering snapshot, local-member-id {Self:x}, local-member-applied-index {Appliedi}, local-member-snapshot-index {Snapi}, local-member-snapshot-count {Count}",
            _self, _appliedi, _snapi, _snapshotCount);
        var (index, confState, cluster, compact) = (_appliedi, _confState, _cluster, InflightSnapshots == 0);
        _snapi = _appliedi;
        _snapshotStarted = now;
        if (_sm is not ISnapshotCapture capture)
        {
            var request = new CreateSnapshotRequest(index, confState, SnapshotEnvelope.Pack(cluster, _sm.TakeSnapshot()), compact);
            _snapshotSaved = request.Saved.Task;
            _runner.PostFromApply(request);
            return;
        }
        var serialize = capture.CaptureSnapshot();
        // On a thread of its own: a serialization that takes seconds on a pool thread makes the pool
        // add threads, which then contend for the few cores with the loops.
        _snapshotSaved = Task.Factory.StartNew(() =>
        {
            try
            {
                var request = new CreateSnapshotRequest(index, confState, SnapshotEnvelope.Pack(cluster, serialize()), compact);
                _runner.PostFromApply(request);
                return request.Saved.Task;
            }
            catch (Exception ex)
            {
                _log.LogCritical(ex, "taking a snapshot failed; stopping the member");
                _sink.OnFatal(ex);
                throw;
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    /// <summary>
    /// How long a snapshot's time, from trigger to saved, holds back the next (see
    /// <see cref="TriggerSnapshot"/>): snapshots of a large state take at most a tenth of the time. With
    /// a quarter, the three members of a cluster on two cores spent a third of their CPU on snapshots
    /// of a store of 300,000 keys under a put load.
    /// </summary>
    internal const int SnapshotPauseFactor = 9;

    /// <summary>How often a due but held-back snapshot is looked at again while nothing is applied.</summary>
    private static readonly TimeSpan SnapshotRecheck = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// etcd's createMergedSnapshotMessage and sendMergedSnap: the MsgSnap gets a fresh snapshot of
    /// the state machine at the applied index, and goes out on the transport's snapshot path.
    /// </summary>
    private void SendMergedSnapshot(Message m)
    {
        var data = SnapshotEnvelope.Pack(_cluster, _sm.TakeSnapshot());
        var snapshot = new Snapshot(data, new SnapshotMetadata(_confState, _appliedi, _appliedt));
        var merged = new Message(m.Type, m.To, m.From, m.Term, m.LogTerm, m.Index, m.Entries, m.Commit, snapshot, m.Reject, m.RejectHint, m.Context);
        Interlocked.Increment(ref _inflightSnapshots);
        _log.LogInformation("sending merged snapshot from {From:x} to {To:x}, {Bytes} bytes, index {Index}", m.From, m.To, data.Length, _appliedi);
        _transport.SendSnapshot(merged);
    }
}
