using System.Text.Json;

namespace Raft.Shell.Tests.Chaos;

/// <summary>
/// A run's figures as a JSON file under TestResults (or RAFT_CHAOS_RESULTS), one file per run,
/// named by label, program and seed, for bench/chaos-vs-etcd.sh to put side by side.
/// </summary>
internal static class ChaosReport
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The directory the figures of every run go to.</summary>
    public static string Directory => Path.Combine(ChaosRun.ResultsRoot(), "chaos-figures");

    /// <summary>Writes the figures of one run; returns the file.</summary>
    public static string Save(MemberFlavour flavour, string label, int seed, int members, int clients, TimeSpan duration,
        IReadOnlyList<FaultStep> schedule, ChaosFigures f)
    {
        var report = new
        {
            system = flavour.Name,
            version = flavour.Version,
            label,
            seed,
            members,
            clients,
            faultSeconds = duration.TotalSeconds,
            flags = MemberFlavour.SharedFlags,
            machine = Machine(),
            utc = DateTime.UtcNow.ToString("O"),
            schedule = schedule.Select(s => s.ToString()).ToArray(),
            operationsChecked = f.OperationsChecked,
            unknownOutcomes = f.UnknownOutcomes,
            acknowledgedWrites = f.AcknowledgedWrites,
            acknowledgedWritesLost = f.AcknowledgedWritesLost,
            revisionRegressions = f.RevisionRegressions,
            faults = f.Faults,
            longestWriteGapMs = f.LongestWriteGapMs,
            electionMs = f.ElectionMs,
        };
        System.IO.Directory.CreateDirectory(Directory);
        var file = Path.Combine(Directory, $"{label}-{flavour.Name}-seed{seed}.json");
        File.WriteAllText(file, JsonSerializer.Serialize(report, Indented));
        return file;
    }

    /// <summary>The nearest-rank percentile <paramref name="p"/> (0..100) of ascending <paramref name="sorted"/>.</summary>
    public static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0) throw new ArgumentException("no values", nameof(sorted));
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary>Cores, processor and load average: the figures mean little without them.</summary>
    private static object Machine()
    {
        string Read(string path) => File.Exists(path) ? File.ReadAllText(path) : "";
        var cpu = Read("/proc/cpuinfo").Split('\n').FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        var load = string.Join(" ", Read("/proc/loadavg").Split(' ').Take(3));
        return new { cores = Environment.ProcessorCount, cpu, loadAverage = load };
    }
}
