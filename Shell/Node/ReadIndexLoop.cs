using System.Buffers.Binary;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.Interop;

namespace Raft.Shell.Node;

/// <summary>
/// etcd's linearizableReadLoop: readers that arrive while a ReadIndex is in flight share the next
/// one. Each round sends a ReadIndex with a fresh 8-byte context, waits for the ReadState carrying
/// it (re-sending after 500 ms or after the first commit of a new term, starting over when the
/// leader changes), then waits until the apply loop has applied that index, and releases every
/// reader of the round.
/// </summary>
internal sealed class ReadIndexLoop
{
    private readonly RaftRunner _runner;
    private readonly RequestIdGenerator _ids;
    private readonly AppliedIndexWait _applied;
    private readonly Func<Task> _leaderChanged;
    private readonly Func<Task> _firstCommitInTerm;
    private readonly Func<bool> _hasLeader;
    private readonly TimeSpan _timeout;
    private readonly NodeMetrics _metrics;
    private readonly ILogger _log;
    // Both channels run the loop's continuation on the writer's thread (the runner's, or the first
    // reader's) instead of waking a pool thread for it: a round's steps never block (they post to
    // the runner and await), and each hop through the pool costs a sleeping thread's wake-up, which
    // on a machine of few cores is a large part of a linearizable read at one client.
    private readonly Channel<ReadState> _readStates = Channel.CreateBounded<ReadState>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true, AllowSynchronousContinuations = true });
    private readonly Channel<bool> _readWait = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true, AllowSynchronousContinuations = true });
    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource _notifier = NewNotifier();
    private Task _loop = Task.CompletedTask;
    private Task<ReadState>? _pendingRead;
    // Readers since the current round began (an estimate of how many the next round releases).
    private int _readers;

    public ReadIndexLoop(
        RaftRunner runner,
        RequestIdGenerator ids,
        AppliedIndexWait applied,
        Func<Task> leaderChanged,
        Func<Task> firstCommitInTerm,
        Func<bool> hasLeader,
        TimeSpan timeout,
        NodeMetrics metrics,
        ILogger log)
    {
        _runner = runner;
        _ids = ids;
        _applied = applied;
        _leaderChanged = leaderChanged;
        _firstCommitInTerm = firstCommitInTerm;
        _hasLeader = hasLeader;
        _timeout = timeout;
        _metrics = metrics;
        _log = log;
    }

    private static TaskCompletionSource NewNotifier() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Start() => _loop = Task.Run(LoopAsync);

    /// <summary>The newest ReadState of a Ready (never blocks; a newer one replaces an unread one).</summary>
    public void OnReadState(ReadState rs) => _readStates.Writer.TryWrite(rs);

    /// <summary>etcd's linearizableReadNotify.</summary>
    public Task WaitAsync(CancellationToken ct)
    {
        var nr = Volatile.Read(ref _notifier);
        Interlocked.Increment(ref _readers);
        _readWait.Writer.TryWrite(true);
        return nr.Task.WaitAsync(ct);
    }

    public async Task StopAsync()
    {
        _stop.Cancel();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        Volatile.Read(ref _notifier).TrySetException(new RaftException(RaftErrorCode.Stopped, "the node has stopped"));
    }

    private async Task LoopAsync()
    {
        var stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            await _readWait.Reader.ReadAsync(stop).ConfigureAwait(false);
            var nr = Interlocked.Exchange(ref _notifier, NewNotifier());
            var readers = Interlocked.Exchange(ref _readers, 0);
            try
            {
                var index = await RequestCurrentIndexAsync(stop).ConfigureAwait(false);
                // The ReadState came on the runner's thread. Releasing one reader costs little
                // there, but releasing many and starting the next round would hold up the runner
                // under load: that goes to a pool thread, as before.
                if (readers > 1 && !Thread.CurrentThread.IsThreadPoolThread)
                    await Task.Yield();
                await _applied.WaitAsync(index).WaitAsync(stop).ConfigureAwait(false);
                nr.TrySetResult();
            }
            catch (RaftException ex)
            {
                nr.TrySetException(ex);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                nr.TrySetException(new RaftException(RaftErrorCode.Stopped, "the node has stopped"));
                throw;
            }
        }
    }

    private async Task<ulong> RequestCurrentIndexAsync(CancellationToken stop)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stop);
        deadline.CancelAfter(_timeout);
        var deadlineTask = Task.Delay(Timeout.Infinite, deadline.Token);
        var round = deadline.Token;
        try
        {
            while (true)
            {
                // A leader change voids the request; unlike etcd (which fails the round with
                // ErrLeaderChanged), the round starts over with a new context until its deadline.
                var leaderChanged = _leaderChanged();
                var requestId = _ids.Next();
                var ctx = new byte[8];
                BinaryPrimitives.WriteUInt64BigEndian(ctx, requestId);
                _runner.Post(new ReadIndexInput(ctx));
                var firstCommit = _firstCommitInTerm();
                var retry = Task.Delay(Defaults.ReadIndexRetryTime, round);
                while (true)
                {
                    _pendingRead ??= _readStates.Reader.ReadAsync(stop).AsTask();
                    var done = await Task.WhenAny(_pendingRead, leaderChanged, firstCommit, retry, deadlineTask).ConfigureAwait(false);
                    stop.ThrowIfCancellationRequested();
                    if (done == _pendingRead)
                    {
                        var rs = await _pendingRead.ConfigureAwait(false);
                        _pendingRead = null;
                        if (rs.RequestCtx.AsSpan().SequenceEqual(ctx))
                            return rs.Index;
                        // An answer to an earlier request that timed out: keep waiting for ours.
                        _log.LogWarning("ignored out-of-date read index response; local node read indexes queueing up and waiting to be in sync with leader, sent-request-id {Sent}, received-request-id {Received}",
                            requestId, rs.RequestCtx.Length == 8 ? BinaryPrimitives.ReadUInt64BigEndian(rs.RequestCtx) : 0UL);
                        _metrics.SlowReadIndex();
                        continue;
                    }
                    if (done == leaderChanged)
                    {
                        _metrics.ReadIndexFailed();
                        break;
                    }
                    if (done == firstCommit)
                    {
                        _log.LogInformation("first commit in current term: resending ReadIndex request");
                        firstCommit = _firstCommitInTerm();
                    }
                    // The retry timer ends with the round's deadline too: then it is the deadline.
                    else if (done == retry && !deadlineTask.IsCompleted)
                    {
                        _log.LogDebug("waiting for ReadIndex response took too long, retrying, sent-request-id {Sent}", requestId);
                    }
                    else
                    {
                        _log.LogWarning("timed out waiting for read index response (local node might have slow network), timeout {Timeout}", _timeout);
                        _metrics.SlowReadIndex();
                        throw _hasLeader()
                            ? new RaftException(RaftErrorCode.Timeout, "etcdserver: request timed out")
                            : new RaftException(RaftErrorCode.NoLeader, "etcdserver: no leader");
                    }
                    _runner.Post(new ReadIndexInput(ctx));
                    retry = Task.Delay(Defaults.ReadIndexRetryTime, round);
                }
            }
        }
        finally
        {
            // Ends the round's retry timer with it, rather than leaving one to fire on the timer thread
            // half a second after every read.
            deadline.Cancel();
        }
    }
}
