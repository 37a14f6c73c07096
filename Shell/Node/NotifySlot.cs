namespace Raft.Shell.Node;

/// <summary>
/// The seed's <c>notifyc</c>: a channel of capacity one per Ready, through which the runner tells
/// the apply loop that the Ready's disk writes are done. A post into a full slot waits until the
/// apply loop has taken the previous signal; that is how a follower waits for the apply loop after
/// committing a conf change.
/// </summary>
/// <remarks>
/// The apply loop blocks without spinning first: it waits for the runner, which needs the core. It
/// waits on its own <see cref="WakeEvent"/>, which it leaves in the slot before it looks at the slot
/// the last time: one event per thread rather than one per Ready.
/// </remarks>
internal sealed class NotifySlot
{
    private int _full;
    private WakeEvent? _waiter;

    /// <summary>Puts a signal in the slot unless it is full. Only the runner posts.</summary>
    public bool TryPost()
    {
        // Both the post and the waiter's announcement are full fences: one of the two sees the other.
        if (Interlocked.CompareExchange(ref _full, 1, 0) != 0)
            return false;
        Volatile.Read(ref _waiter)?.Set();
        return true;
    }

    /// <summary>Takes a signal, waiting for one on <paramref name="wake"/> (the apply loop's <c>&lt;-notifyc</c>).</summary>
    public void Take(WakeEvent wake, CancellationToken ct)
    {
        if (TryTakeNow())
            return;
        Interlocked.Exchange(ref _waiter, wake);
        // The slot's state decides; the event only wakes the reader. A wake-up for something else
        // (the queue shares the event) is cleared and the slot looked at again.
        while (true)
        {
            wake.Reset();
            if (TryTakeNow())
                return;
            wake.Wait(ct);
        }
    }

    /// <summary>Takes a signal already there, without waiting.</summary>
    public bool TryTakeNow() => Interlocked.CompareExchange(ref _full, 0, 1) == 1;
}

/// <summary>What the runner hands the apply loop for one Ready (the seed's <c>apply</c>).</summary>
/// <param name="Entries">Committed entries to apply.</param>
/// <param name="Snapshot">The snapshot to restore; empty when none.</param>
/// <param name="Notify">The Ready's notify slot.</param>
internal sealed record ApplyItem(Raft.Core.Entry[] Entries, Raft.Core.Snapshot Snapshot, NotifySlot Notify);
