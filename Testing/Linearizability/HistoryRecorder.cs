namespace Raft.Testing.Linearizability;

/// <summary>
/// Records a concurrent history as clients run: <see cref="Begin"/> just before a request is sent,
/// then one of <see cref="PendingOperation{TInput, TOutput}.Complete"/> (answered),
/// <see cref="PendingOperation{TInput, TOutput}.CompleteUnknown"/> (timed out or failed with an
/// unknown outcome) or <see cref="PendingOperation{TInput, TOutput}.Discard"/> (failed without
/// effect, e.g. a failed read) once it is over. Thread-safe. Times are <see cref="TimeSpan"/> ticks
/// since the recorder was created (print them with <see cref="TimeFormats.TimeSpanTicks"/>).
/// </summary>
public sealed class HistoryRecorder<TInput, TOutput>
{
    private readonly TimeProvider _time;
    private readonly long _start;
    private readonly object _gate = new();
    private readonly List<Operation<TInput, TOutput>> _operations = [];
    private int _open;

    /// <summary>Creates a recorder on <paramref name="time"/> (the system clock by default).</summary>
    public HistoryRecorder(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _start = _time.GetTimestamp();
    }

    /// <summary>Now, in <see cref="TimeSpan"/> ticks since the recorder was created.</summary>
    public long Now => _time.GetElapsedTime(_start).Ticks;

    /// <summary>Marks the invocation of <paramref name="input"/> by <paramref name="client"/>; call it before sending.</summary>
    public PendingOperation<TInput, TOutput> Begin(int client, TInput input)
    {
        Interlocked.Increment(ref _open);
        return new PendingOperation<TInput, TOutput>(this, client, input, Now);
    }

    /// <summary>How many operations were begun and not yet completed or discarded.</summary>
    public int Open => Volatile.Read(ref _open);

    /// <summary>The operations recorded so far, in the order they ended.</summary>
    public IReadOnlyList<Operation<TInput, TOutput>> Operations
    {
        get { lock (_gate) return _operations.ToArray(); }
    }

    internal void End(Operation<TInput, TOutput>? op)
    {
        if (op is not null) lock (_gate) _operations.Add(op);
        Interlocked.Decrement(ref _open);
    }
}

/// <summary>An operation that was invoked and has not ended yet; end it exactly once.</summary>
public sealed class PendingOperation<TInput, TOutput>
{
    private readonly HistoryRecorder<TInput, TOutput> _recorder;
    private int _ended;

    internal PendingOperation(HistoryRecorder<TInput, TOutput> recorder, int client, TInput input, long call)
    {
        _recorder = recorder;
        Client = client;
        Input = input;
        Call = call;
    }

    /// <summary>The client that invoked it.</summary>
    public int Client { get; }

    /// <summary>What was asked.</summary>
    public TInput Input { get; }

    /// <summary>When it was invoked.</summary>
    public long Call { get; }

    /// <summary>Records the answer; call it as soon as the answer arrives.</summary>
    public void Complete(TOutput output) =>
        End(new Operation<TInput, TOutput>(Client, Input, Call, output, _recorder.Now));

    /// <summary>
    /// Records that the outcome is unknown: the operation may take effect at any later time, or
    /// never. <paramref name="unknownOutput"/> is the model's output that accepts either.
    /// </summary>
    public void CompleteUnknown(TOutput unknownOutput) =>
        End(Operation.OutcomeUnknown(Client, Input, Call, unknownOutput));

    /// <summary>Leaves the operation out of the history: it failed and cannot have had an effect.</summary>
    public void Discard() => End(null);

    private void End(Operation<TInput, TOutput>? op)
    {
        if (Interlocked.Exchange(ref _ended, 1) != 0)
            throw new InvalidOperationException("the operation was already ended");
        _recorder.End(op);
    }
}

/// <summary>Recording helpers for the key-value model.</summary>
public static class KvRecording
{
    /// <summary>
    /// Records a failed key-value operation: a failed get is dropped (it had no effect and told
    /// nothing); any other operation's outcome is unknown, since the write may still be applied.
    /// </summary>
    public static void Failed(this PendingOperation<KvInput, KvOutput> pending)
    {
        ArgumentNullException.ThrowIfNull(pending);
        if (pending.Input.IsRead) pending.Discard();
        else pending.CompleteUnknown(KvOutput.Unknown);
    }
}
