using System.Diagnostics;
using System.Text;

namespace Raft.Shell.Tests.Differential;

/// <summary>
/// Runs the seeded sequence against etcd and <c>raft serve</c>, one operation at a time (sent to both
/// at once), and compares each operation's outcomes before the next is generated. Every pair of
/// outcomes is kept, so that the test can show the same check catching a response it mutates.
/// </summary>
internal sealed class DiffRun(DiffServer etcd, DiffServer raft, MessageComparer comparer)
{
    /// <summary>One operation and what each server answered.</summary>
    public sealed record Step(int Index, DiffOp Op, List<Outcome> Etcd, List<Outcome> Raft);

    public List<Step> Steps { get; } = [];

    /// <summary>The operations that met a deliberate difference, with why it is one.</summary>
    public List<(int Index, string Why)> Known { get; } = [];

    public TimeSpan Elapsed { get; private set; }

    /// <summary>Runs <paramref name="count"/> operations; stops at the first difference and returns its message.</summary>
    public async Task<string?> RunAsync(Random rnd, int count)
    {
        var generator = new OpGenerator(rnd);
        var sw = Stopwatch.StartNew();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var op = generator.Next(i);
                var (a, b) = (op.RunAsync(etcd), op.RunAsync(raft));
                var step = new Step(i, op, await a, await b);
                Steps.Add(step);
                if (Failure(step, comparer) is { } failure)
                {
                    // Only the outcomes the deliberate difference leaves out may differ.
                    if (op.Known?.Invoke(step.Etcd, step.Raft) is not { } known ||
                        Failure(step with { Etcd = known.Etcd, Raft = known.Raft }, comparer) is not null)
                        return failure;
                    Known.Add((i, known.Why));
                }
                generator.Observe(op, step.Etcd);
            }
            return null;
        }
        finally
        {
            Elapsed = sw.Elapsed;
        }
    }

    /// <summary>
    /// The failure message for a step whose outcomes differ (null when they agree): the seed, the
    /// operation's index and request, every difference, both servers' outcomes, and the operations
    /// just before it.
    /// </summary>
    public string? Failure(Step step, MessageComparer with)
    {
        var diffs = Outcome.Differences(step.Etcd, step.Raft, with);
        if (diffs.Count == 0)
            return null;
        var sb = new StringBuilder();
        sb.AppendLine($"{TestSeed.Describe}: operation #{step.Index} answered differently by etcd and raft serve");
        sb.AppendLine($"  sent: {step.Op}");
        foreach (var d in diffs)
            sb.AppendLine($"  differs: {d}");
        foreach (var o in step.Etcd)
            sb.AppendLine($"  etcd {o}");
        foreach (var o in step.Raft)
            sb.AppendLine($"  raft {o}");
        sb.AppendLine("  the operations before it:");
        foreach (var s in Steps.Where(s => s.Index < step.Index).TakeLast(8))
            sb.AppendLine($"    #{s.Index} {s.Op}  ->  {string.Join("; ", s.Etcd)}");
        return sb.ToString();
    }
}
