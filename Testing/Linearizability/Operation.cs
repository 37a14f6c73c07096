namespace Raft.Testing.Linearizability;

/// <summary>
/// One client operation of a history: invoked at <see cref="Call"/>, answered at
/// <see cref="Return"/>. Times are ticks of one monotonic clock shared by all clients (the
/// <see cref="HistoryRecorder{TInput, TOutput}"/> uses <see cref="TimeSpan"/> ticks since it was
/// created). An operation whose outcome is unknown (timed out, connection lost) returns at
/// <see cref="Operation.Never"/>: it may take effect at any point after its call, or never.
/// </summary>
/// <param name="Client">Which client issued it; only for reports.</param>
/// <param name="Input">What was asked.</param>
/// <param name="Call">When it was invoked.</param>
/// <param name="Output">What was answered (the model's "unknown" output when the outcome is unknown).</param>
/// <param name="Return">When the answer arrived, or <see cref="Operation.Never"/>.</param>
public sealed record Operation<TInput, TOutput>(int Client, TInput Input, long Call, TOutput Output, long Return)
{
    /// <summary>True when the client never learnt the outcome.</summary>
    public bool OutcomeUnknown => Return == Operation.Never;
}

/// <summary>Helpers to build <see cref="Operation{TInput, TOutput}"/> values.</summary>
public static class Operation
{
    /// <summary>The return time of an operation whose outcome is unknown: after everything else.</summary>
    public const long Never = long.MaxValue;

    /// <summary>An operation that was answered.</summary>
    public static Operation<TInput, TOutput> Completed<TInput, TOutput>(
        int client, TInput input, long call, TOutput output, long @return) =>
        new(client, input, call, output, @return);

    /// <summary>
    /// An operation whose outcome is unknown. <paramref name="unknownOutput"/> must be an output the
    /// model accepts whatever the operation did (for the key-value model, <see cref="KvOutput.Unknown"/>).
    /// </summary>
    public static Operation<TInput, TOutput> OutcomeUnknown<TInput, TOutput>(
        int client, TInput input, long call, TOutput unknownOutput) =>
        new(client, input, call, unknownOutput, Never);
}
