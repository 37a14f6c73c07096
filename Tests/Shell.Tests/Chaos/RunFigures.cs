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

    /// <summary>
    /// Writes <c>chaos-figures/&lt;label&gt;-&lt;system&gt;-&lt;seed&gt;[-&lt;runs&gt;runs].json</c> under
    /// <paramref name="root"/> (system: <c>raft</c> or <c>etcd</c>, so the two programs' runs of one
    /// seed sit side by side); returns its path. A single run's file lists its schedule too.
    /// </summary>
    public static string Save(string root, string label, MemberFlavour flavour, int seed, int members, ChaosFigures f,
        int runs = 1, IReadOnlyList<FaultStep>? schedule = null)
    {
        var dir = Path.Combine(root, "chaos-figures");
        Directory.CreateDirectory(dir);
        var name = $"{label}-{flavour.Name}-{seed}";
        var path = Path.Combine(dir, runs == 1 ? $"{name}.json" : $"{name}-{runs}runs.json");
        using (var stream = File.Create(path))
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("test", label);
            w.WriteString("system", flavour.Name);
            w.WriteString("version", flavour.Version);
            w.WriteNumber("seed", seed);
            w.WriteNumber("runs", runs);
            w.WriteNumber("members", members);
            WriteStrings(w, "flags", MemberFlavour.SharedFlags);
            w.WriteString("finished", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
            // The figures mean little without the machine: cores, processor and its load.
            w.WriteNumber("cores", Environment.ProcessorCount);
            w.WriteString("cpu", Cpu());
            w.WriteString("loadAverage", LoadAverage());
            if (schedule is not null)
                WriteStrings(w, "schedule", schedule.Select(s => s.ToString()));
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

    private static void WriteStrings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }

    /// <summary>The processor's model name from /proc/cpuinfo, or "" where unknown.</summary>
    private static string Cpu()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "";
        }
        catch (IOException)
        {
            return "";
        }
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
