using System.Globalization;
using System.Text.Json;

namespace Raft.Shell.Tests.Chaos;

/// <summary>
/// The figures of chaos runs as JSON files under <c>TestResults/chaos-figures/</c>, one per run
/// (and one per test that ran several seeds), so that a longer profile can add them up: counts
/// add, longest windows take the maximum, election samples are kept whole.
/// </summary>
internal static class RunFigures
{
    /// <summary>The nearest-rank percentile of ascending <paramref name="sorted"/> (p in 0..1).</summary>
    public static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0) throw new ArgumentException("no samples", nameof(sorted));
        var rank = (int)Math.Ceiling(p * sorted.Length);
        return sorted[Math.Clamp(rank, 1, sorted.Length) - 1];
    }

    /// <summary>The figures of several runs as one: sums, maxima, every election sample.</summary>
    public static ChaosFigures Combine(IReadOnlyCollection<ChaosFigures> runs)
    {
        static IReadOnlyDictionary<FaultKind, T> Merge<T>(IEnumerable<IReadOnlyDictionary<FaultKind, T>> ds, Func<IEnumerable<T>, T> merge) =>
            ds.SelectMany(d => d).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => merge(g.Select(kv => kv.Value)));
        return new ChaosFigures(
            runs.Sum(f => f.OperationsChecked), runs.Sum(f => f.UnknownOutcomes), runs.Sum(f => f.AcknowledgedWrites),
            runs.Sum(f => f.AcknowledgedWritesLost), runs.Sum(f => f.RevisionRegressions),
            Merge(runs.Select(f => f.Faults), v => v.Sum()),
            Merge(runs.Select(f => f.LongestWriteGapMs), v => v.Max()),
            Merge(runs.Select(f => f.ElectionMs), v => v.SelectMany(a => a).Order().ToArray()));
    }

    /// <summary>Writes <c>chaos-figures/&lt;label&gt;-&lt;seed&gt;[-&lt;runs&gt;runs].json</c> under <paramref name="root"/>; returns its path.</summary>
    public static string Save(string root, string label, int seed, int members, ChaosFigures f, int runs = 1)
    {
        var dir = Path.Combine(root, "chaos-figures");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, runs == 1 ? $"{label}-{seed}.json" : $"{label}-{seed}-{runs}runs.json");
        using (var stream = File.Create(path))
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("test", label);
            w.WriteNumber("seed", seed);
            w.WriteNumber("runs", runs);
            w.WriteNumber("members", members);
            w.WriteString("finished", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
            w.WriteString("loadAverage", LoadAverage());
            w.WriteNumber("operationsChecked", f.OperationsChecked);
            w.WriteNumber("unknownOutcomes", f.UnknownOutcomes);
            w.WriteNumber("acknowledgedWrites", f.AcknowledgedWrites);
            w.WriteNumber("acknowledgedWritesLost", f.AcknowledgedWritesLost);
            w.WriteNumber("revisionRegressions", f.RevisionRegressions);
            w.WriteStartObject("faults");
            foreach (var (kind, n) in f.Faults.OrderBy(kv => kv.Key))
                w.WriteNumber(kind.ToString(), n);
            w.WriteEndObject();
            w.WriteStartObject("longestWindowWithoutWriteMs");
            foreach (var (kind, ms) in f.LongestWriteGapMs.OrderBy(kv => kv.Key))
                w.WriteNumber(kind.ToString(), Math.Round(ms));
            w.WriteEndObject();
            w.WriteStartObject("electionMs");
            foreach (var (kind, samples) in f.ElectionMs.OrderBy(kv => kv.Key))
            {
                w.WriteStartObject(kind.ToString());
                w.WriteNumber("median", Math.Round(ChaosRun.Median(samples)));
                w.WriteNumber("p99", Math.Round(Percentile(samples, 0.99)));
                w.WriteNumber("max", Math.Round(samples.Max()));
                w.WriteStartArray("samples");
                foreach (var s in samples) w.WriteNumberValue(Math.Round(s));
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return path;
    }

    /// <summary>The machine's 1, 5 and 15 minute load averages (the machine is shared), or "" where unknown.</summary>
    public static string LoadAverage()
    {
        try
        {
            return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "";
        }
    }
}
