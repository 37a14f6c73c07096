using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Raft.Shell.IO;

namespace Raft.Shell.Node;

/// <summary>
/// A manual-reset event that one thread at a time waits on: the runner's wake-up, and the apply
/// loop's, which its queue and every Ready's notify slot share. Waiters use it as "reset, look at
/// the condition, wait", so that a set meant for another condition of the same thread only costs
/// one more look. It blocks without spinning first (the thread that will set it needs the core).
/// </summary>
/// <remarks>
/// On Linux (x64, arm64) the waiter sleeps on a futex: one sleep per wake-up, and a set costs a
/// system call only while the waiter sleeps. .NET's own events take two sleeps per wake-up there
/// (see <see cref="Futex"/>), which tracing showed on the apply thread as about 5 sleeps per put
/// for its 2 waits. Elsewhere a monitor does the waiting.
/// </remarks>
internal sealed unsafe class WakeEvent
{
    private const int Unset = 0, Set_ = 1, Sleeping = 2;

    // The futex word lives in the pinned object heap: a sleeping thread's address must not move.
    private readonly int[] _word = GC.AllocateArray<int>(1, pinned: true);
    private readonly int* _state;
    private readonly object? _monitor = Futex.IsSupported ? null : new object();

    public WakeEvent() => _state = (int*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_word));

    /// <summary>Whether the event is set.</summary>
    public bool IsSet => Volatile.Read(ref *_state) == Set_;

    /// <summary>Sets the event and wakes the waiter if it sleeps. Any thread.</summary>
    public void Set()
    {
        if (Volatile.Read(ref *_state) == Set_)
            return;
        if (Interlocked.Exchange(ref *_state, Set_) != Sleeping)
            return;
        if (_monitor is null)
            Futex.WakeOne(_state);
        else
            lock (_monitor) Monitor.Pulse(_monitor);
    }

    /// <summary>Unsets the event. The waiting thread only, between its waits.</summary>
    public void Reset() => Interlocked.CompareExchange(ref *_state, Unset, Set_);

    /// <summary>
    /// Waits until the event is set, at most <paramref name="millisecondsTimeout"/>
    /// (<see cref="Timeout.Infinite"/>: no limit); false when the time ran out. One thread at a time.
    /// </summary>
    public bool Wait(int millisecondsTimeout)
    {
        // Announce the sleep; a set between here and the sleep changes the word, so the sleep ends at once.
        if (Interlocked.CompareExchange(ref *_state, Sleeping, Unset) == Set_)
            return true;
        var started = millisecondsTimeout == Timeout.Infinite ? 0 : Stopwatch.GetTimestamp();
        while (true)
        {
            var left = millisecondsTimeout == Timeout.Infinite
                ? Timeout.Infinite
                : Math.Max(0, millisecondsTimeout - (int)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            var woke = left != 0 && Sleep(left);
            if (Volatile.Read(ref *_state) == Set_)
                return true;
            if (!woke)
                // Back to unset unless a set came just now.
                return Interlocked.CompareExchange(ref *_state, Unset, Sleeping) == Set_;
        }
    }

    /// <summary>Waits as <see cref="Wait(int)"/> with a time span (whole milliseconds, rounded up).</summary>
    public bool Wait(TimeSpan timeout) =>
        Wait((int)Math.Min(int.MaxValue - 1, Math.Ceiling(Math.Max(0, timeout.TotalMilliseconds))));

    /// <summary>Waits until the event is set or <paramref name="ct"/> is cancelled (then throws).</summary>
    public void Wait(CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        if (IsSet)
            return;
        using (ct.UnsafeRegister(static e => ((WakeEvent)e!).Set(), this))
            Wait(Timeout.Infinite);
        ct.ThrowIfCancellationRequested();
    }

    private bool Sleep(int milliseconds)
    {
        if (_monitor is null)
            return Futex.Wait(_state, Sleeping, milliseconds);
        lock (_monitor)
            return Volatile.Read(ref *_state) != Sleeping || Monitor.Wait(_monitor, milliseconds);
    }
}
