using System.Collections.Concurrent;

namespace Raft.Shell.Node;

/// <summary>
/// The seed's <c>applyc</c>: an unbounded queue from the runner to the apply loop, with one reader.
/// The reader blocks without spinning first (unlike BlockingCollection's semaphore): members of a
/// cluster often share few cores, and a thread that spins while it waits takes the CPU the thread it
/// waits for needs.
/// </summary>
/// <param name="added">The reader's wake-up; the apply loop shares it with its notify waits.</param>
internal sealed class ApplyQueue<T>(WakeEvent added)
{
    private readonly ConcurrentQueue<T> _items = new();
    private readonly WakeEvent _added = added;
    private volatile bool _completed;
    private volatile bool _woken;

    /// <summary>A queue with a wake-up of its own.</summary>
    public ApplyQueue()
        : this(new WakeEvent())
    {
    }

    /// <summary>Queues an item and wakes the reader; false once <see cref="CompleteAdding"/> was called.</summary>
    public bool TryAdd(T item)
    {
        if (!TryAddQuietly(item))
            return false;
        _added.Set();
        return true;
    }

    /// <summary>
    /// Queues an item without waking the reader: the caller calls <see cref="Signal"/> soon, so that
    /// several items and signals of one round cost the reader one wake-up.
    /// </summary>
    public bool TryAddQuietly(T item)
    {
        if (_completed)
            return false;
        _items.Enqueue(item);
        return true;
    }

    /// <summary>Wakes the reader for the items queued quietly.</summary>
    public void Signal() => _added.Set();

    /// <summary>No more items will be added; the reader still gets those already queued.</summary>
    public void CompleteAdding()
    {
        _completed = true;
        _added.Set();
    }

    /// <summary>
    /// Ends the reader's current wait, or its next one, with no item, so that it looks at work that
    /// does not come through the queue (a MsgSnap to send).
    /// </summary>
    public void Wake()
    {
        _woken = true;
        _added.Set();
    }

    /// <summary>Whether adding is complete and every item has been taken.</summary>
    public bool IsCompleted => _completed && _items.IsEmpty;

    /// <summary>
    /// Takes the next item, waiting up to <paramref name="millisecondsTimeout"/> (or forever with
    /// <see cref="Timeout.Infinite"/>); false when the time ran out, <see cref="Wake"/> was called, or
    /// the queue is complete and empty. Only one thread reads.
    /// </summary>
    public bool TryTake(out T item, int millisecondsTimeout)
    {
        while (true)
        {
            if (_items.TryDequeue(out item!))
                return true;
            if (_completed)
                return _items.TryDequeue(out item!);
            if (_woken)
            {
                _woken = false;
                return false;
            }
            // Reset before the last look, so that an add or a wake after that look sets the event again.
            _added.Reset();
            if (_items.TryDequeue(out item!))
                return true;
            if (_completed || _woken)
                continue;
            if (!_added.Wait(millisecondsTimeout))
                return false;
        }
    }
}
