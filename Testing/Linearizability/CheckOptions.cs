using System.Globalization;

namespace Raft.Testing.Linearizability;

/// <summary>Budgets and report settings for <see cref="LinearizabilityChecker"/>.</summary>
public sealed class CheckOptions
{
    /// <summary>
    /// The most model steps one partition's search may take before it is reported undecided
    /// (<see cref="CheckOutcome.Unknown"/>). Deterministic, unlike <see cref="Timeout"/>. Null: no limit.
    /// </summary>
    public long? MaxStepsPerPartition { get; set; }

    /// <summary>Wall time for the whole check; partitions not decided by then are undecided. Null: no limit.</summary>
    public TimeSpan? Timeout { get; set; }

    /// <summary>How many partitions are searched at once. Results do not depend on it.</summary>
    public int MaxDegreeOfParallelism { get; set; } = Environment.ProcessorCount;

    /// <summary>How many operations of the linearizable prefix (its last ones) a report prints.</summary>
    public int PrefixShown { get; set; } = 8;

    /// <summary>How a report prints a call or return time; <see cref="TimeFormats.Raw"/> by default.</summary>
    public Func<long, string> DescribeTime { get; set; } = TimeFormats.Raw;
}

/// <summary>Ways to print operation times in reports.</summary>
public static class TimeFormats
{
    /// <summary>The tick count as it is.</summary>
    public static Func<long, string> Raw { get; } = t => t.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// <see cref="TimeSpan"/> ticks (100 ns) as milliseconds, for histories from
    /// <see cref="HistoryRecorder{TInput, TOutput}"/>.
    /// </summary>
    public static Func<long, string> TimeSpanTicks { get; } =
        t => TimeSpan.FromTicks(t).TotalMilliseconds.ToString("0.000", CultureInfo.InvariantCulture) + "ms";
}
