using System.Text;

namespace Raft.Testing.Linearizability;

/// <summary>What the checker concluded.</summary>
public enum CheckOutcome
{
    /// <summary>Every partition has a linearization.</summary>
    Ok,
    /// <summary>At least one partition has none.</summary>
    Illegal,
    /// <summary>No violation was found, but the budget ran out before every partition was decided.</summary>
    Unknown,
}

/// <summary>An operation as it appears in a report, with its position in the checked history.</summary>
/// <param name="Index">Its position in the sequence passed to the checker.</param>
/// <param name="Operation">The operation.</param>
/// <param name="Description">The model's description of it, e.g. <c>get("k") -> "v"</c>.</param>
public sealed record ReportedOperation<TInput, TOutput>(int Index, Operation<TInput, TOutput> Operation, string Description);

/// <summary>
/// Why a partition is not linearizable, as the smallest window the search could pin: the longest
/// linearizable prefix it found, the state after it, and the operations that could take effect next
/// (those invoked before the first of them returned), none of which the model accepts there.
/// </summary>
public sealed class ViolationReport<TInput, TOutput>
{
    internal ViolationReport(
        string partitionKey, int operationCount,
        IReadOnlyList<ReportedOperation<TInput, TOutput>> prefix, string stateAfterPrefix,
        ReportedOperation<TInput, TOutput> blocking,
        IReadOnlyList<ReportedOperation<TInput, TOutput>> window, string text)
    {
        PartitionKey = partitionKey;
        OperationCount = operationCount;
        Prefix = prefix;
        StateAfterPrefix = stateAfterPrefix;
        Blocking = blocking;
        Window = window;
        Text = text;
    }

    /// <summary>The partition (for the key-value model, the key).</summary>
    public string PartitionKey { get; }

    /// <summary>How many operations the partition has.</summary>
    public int OperationCount { get; }

    /// <summary>The longest linearizable prefix found, in the order its operations take effect.</summary>
    public IReadOnlyList<ReportedOperation<TInput, TOutput>> Prefix { get; }

    /// <summary>The model's state after <see cref="Prefix"/>, described.</summary>
    public string StateAfterPrefix { get; }

    /// <summary>The first operation to return that is not in <see cref="Prefix"/>: it had to take effect by then.</summary>
    public ReportedOperation<TInput, TOutput> Blocking { get; }

    /// <summary>The operations that could take effect next (invoked before <see cref="Blocking"/> returned), by call time.</summary>
    public IReadOnlyList<ReportedOperation<TInput, TOutput>> Window { get; }

    /// <summary>The report as readable text.</summary>
    public string Text { get; }

    /// <inheritdoc/>
    public override string ToString() => Text;
}

/// <summary>The verdict on one partition.</summary>
public sealed class PartitionResult<TInput, TOutput>
{
    internal PartitionResult(string key, CheckOutcome outcome, int operationCount, long steps,
        ViolationReport<TInput, TOutput>? violation, string? unknownReason)
    {
        Key = key;
        Outcome = outcome;
        OperationCount = operationCount;
        Steps = steps;
        Violation = violation;
        UnknownReason = unknownReason;
    }

    /// <summary>The partition key.</summary>
    public string Key { get; }

    /// <summary>Linearizable, not, or undecided within the budget.</summary>
    public CheckOutcome Outcome { get; }

    /// <summary>How many operations the partition has.</summary>
    public int OperationCount { get; }

    /// <summary>How many model steps the search took.</summary>
    public long Steps { get; }

    /// <summary>Set when <see cref="Outcome"/> is <see cref="CheckOutcome.Illegal"/>.</summary>
    public ViolationReport<TInput, TOutput>? Violation { get; }

    /// <summary>Set when <see cref="Outcome"/> is <see cref="CheckOutcome.Unknown"/>: which budget ran out.</summary>
    public string? UnknownReason { get; }
}

/// <summary>The verdict on a whole history: one result per partition, in ordinal order of their keys.</summary>
public sealed class CheckResult<TInput, TOutput>
{
    internal CheckResult(CheckOutcome outcome, IReadOnlyList<PartitionResult<TInput, TOutput>> partitions, int operationCount)
    {
        Outcome = outcome;
        Partitions = partitions;
        OperationCount = operationCount;
    }

    /// <summary>Illegal if any partition is; otherwise Unknown if any is; otherwise Ok.</summary>
    public CheckOutcome Outcome { get; }

    /// <summary>True when the whole history is linearizable.</summary>
    public bool IsLinearizable => Outcome == CheckOutcome.Ok;

    /// <summary>The partitions, ordered by key (ordinal), so results do not depend on scheduling.</summary>
    public IReadOnlyList<PartitionResult<TInput, TOutput>> Partitions { get; }

    /// <summary>How many operations were checked.</summary>
    public int OperationCount { get; }

    /// <summary>The violations found, in partition order.</summary>
    public IEnumerable<ViolationReport<TInput, TOutput>> Violations =>
        Partitions.Where(p => p.Violation is not null).Select(p => p.Violation!);

    /// <summary>A readable summary; for an illegal history, every violation report.</summary>
    public string Describe()
    {
        var b = new StringBuilder();
        int illegal = Partitions.Count(p => p.Outcome == CheckOutcome.Illegal);
        int unknown = Partitions.Count(p => p.Outcome == CheckOutcome.Unknown);
        b.Append(Outcome switch
        {
            CheckOutcome.Ok => "Linearizable",
            CheckOutcome.Illegal => "NOT linearizable",
            _ => "Undecided",
        });
        b.Append($": {Count(OperationCount, "operation")} in {Count(Partitions.Count, "partition")}, {Count(Partitions.Sum(p => p.Steps), "step")}");
        if (illegal > 0) b.Append($"; {Count(illegal, "partition")} with a violation");
        if (unknown > 0) b.Append($"; {Count(unknown, "partition")} undecided");
        b.AppendLine(".");
        foreach (var p in Partitions)
        {
            if (p.Violation is not null) b.AppendLine().Append(p.Violation.Text);
            else if (p.Outcome == CheckOutcome.Unknown) b.AppendLine($"Partition \"{p.Key}\" undecided: {p.UnknownReason}.");
        }
        return b.ToString();
    }

    /// <inheritdoc/>
    public override string ToString() => Describe();

    private static string Count(long n, string noun) => n == 1 ? $"1 {noun}" : $"{n} {noun}s";
}
