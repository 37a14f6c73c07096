using System.Threading.Channels;

namespace Raft.Kv.Watch;

/// <summary>
/// One client's watch stream (etcd's watchStream): its watchers and the queue of responses to send, in
/// order. Event responses are bounded (<see cref="WatchOptions.StreamBuffer"/>); created, cancelled and
/// compacted answers always go in, so the client hears them.
/// </summary>
public sealed class WatchStream : IDisposable
{
    private readonly WatcherHub _hub;
    private readonly Channel<WatchBatch> _queue = Channel.CreateUnbounded<WatchBatch>(new UnboundedChannelOptions { SingleReader = true });
    private readonly int _capacity;
    private readonly int _controlCapacity;
    private readonly SemaphoreSlim _controlRead = new(0, 1);
    private int _queuedEvents;
    private int _queuedControl;
    private int _queuedEventCount;

    internal WatchStream(WatcherHub hub, int capacity, int controlCapacity, ConnectionWatches? connection)
    {
        _hub = hub;
        _capacity = Math.Max(1, capacity);
        _controlCapacity = Math.Max(1, controlCapacity);
        Connection = connection;
    }

    // The watchers of the client connection this stream is on (guarded by the hub's lock); null: not counted.
    internal ConnectionWatches? Connection { get; }

    // Guarded by the hub's lock.
    internal Dictionary<long, Watcher> Watchers { get; } = new();

    internal long NextId { get; set; }

    internal bool ProgressRequested { get; set; }

    /// <summary>Creates a watcher; the answer (created, or refused with a reason) is queued before any of its events.</summary>
    public void Watch(WatchSpec spec) => _hub.Watch(this, spec);

    /// <summary>Answers a create with a refusal (created and canceled, <paramref name="reason"/> as its cancel reason), as etcd answers a watch the caller may not read.</summary>
    public void Refuse(long watchId, string reason) => _hub.Refuse(this, watchId, reason);

    /// <summary>Cancels a watcher: its cancel answer is queued after what was queued for it already. False if no such watcher.</summary>
    public bool Cancel(long watchId) => _hub.Cancel(this, watchId);

    /// <summary>
    /// etcd 3.5's progress request: once every watcher of the stream is synced, a progress answer with
    /// watch id -1 at the revision everything was sent up to.
    /// </summary>
    public void RequestProgress() => _hub.RequestProgress(this);

    /// <summary>The responses in order, until the stream is disposed or <paramref name="ct"/> is cancelled.</summary>
    public async IAsyncEnumerable<WatchBatch> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var batch in _queue.Reader.ReadAllAsync(ct))
        {
            Taken(batch);
            yield return batch;
        }
    }

    /// <summary>
    /// Waits until a response is queued (true) or the stream is disposed (false); a sender then takes
    /// what is queued with <see cref="TryRead"/>, without an await per response.
    /// </summary>
    public ValueTask<bool> WaitToReadAsync(CancellationToken ct) => _queue.Reader.WaitToReadAsync(ct);

    /// <summary>Takes a queued response if there is one.</summary>
    public bool TryRead(out WatchBatch batch)
    {
        if (!_queue.Reader.TryRead(out batch!)) return false;
        Taken(batch);
        return true;
    }

    /// <summary>
    /// Waits until the stream holds fewer than <see cref="WatchOptions.ControlBuffer"/> unsent control
    /// answers (etcd's recvLoop blocks on its full ctrlStream the same way): call before handling a
    /// client's request, so a client that never reads stops being read.
    /// </summary>
    public async Task WaitForControlRoomAsync(CancellationToken ct)
    {
        while (Volatile.Read(ref _queuedControl) >= _controlCapacity)
            await _controlRead.WaitAsync(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
    }

    private void Taken(WatchBatch batch)
    {
        if (Counted(batch))
        {
            Interlocked.Decrement(ref _queuedEvents);
            Interlocked.Add(ref _queuedEventCount, -batch.Events.Count);
            return;
        }
        Interlocked.Decrement(ref _queuedControl);
        try
        {
            if (_controlRead.CurrentCount == 0) _controlRead.Release();
        }
        catch (SemaphoreFullException)
        {
            // Another reader released it first: one wake-up is enough.
        }
    }

    /// <inheritdoc />
    /// <remarks>Removes the stream's watchers from the hub and ends <see cref="ReadAllAsync"/>.</remarks>
    public void Dispose()
    {
        _hub.Close(this);
        _queue.Writer.TryComplete();
    }

    /// <summary>Whether an event response would be taken now.</summary>
    internal bool HasRoom => Volatile.Read(ref _queuedEvents) < _capacity;

    /// <summary>Events in the queued responses not yet taken (for metrics).</summary>
    internal int QueuedEventCount => Volatile.Read(ref _queuedEventCount);

    /// <summary>Control answers queued and not yet taken (for tests and metrics).</summary>
    internal int QueuedControl => Volatile.Read(ref _queuedControl);

    private static bool Counted(WatchBatch b) => b.Kind == WatchBatchKind.Events || (b.Kind == WatchBatchKind.Progress && b.Watcher is not null);

    /// <summary>Queues an event response unless the stream holds its limit of them already.</summary>
    internal bool TryQueueBounded(WatchBatch batch)
    {
        if (Interlocked.Increment(ref _queuedEvents) > _capacity)
        {
            Interlocked.Decrement(ref _queuedEvents);
            return false;
        }
        Interlocked.Add(ref _queuedEventCount, batch.Events.Count);
        if (_queue.Writer.TryWrite(batch)) return true;
        Interlocked.Decrement(ref _queuedEvents);
        Interlocked.Add(ref _queuedEventCount, -batch.Events.Count);
        // A closed stream takes nothing; saying it was taken keeps the watcher from catching up for nobody.
        return true;
    }

    internal void QueueControl(WatchBatch batch)
    {
        if (_queue.Writer.TryWrite(batch)) Interlocked.Increment(ref _queuedControl);
    }
}
