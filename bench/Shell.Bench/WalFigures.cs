using System.Diagnostics;
using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.IO;
using Raft.Shell.Wal;

namespace Raft.Shell.Bench;

/// <summary>
/// <c>wal-figures [--dir DIR] [--seconds N]</c>: WAL Save throughput and latency with 1, 16 and 256
/// entries of 256 bytes per Save (fsync on), next to the disk's own fdatasync and fsync rates
/// measured in the same run on the same file system. A plain loop rather than BenchmarkDotNet:
/// each operation waits on the disk, so what matters is the rate and its tail, not nanoseconds.
/// </summary>
internal static class WalFigures
{
    private const int EntryBytes = 256;

    public static int Run(string[] args)
    {
        var dir = Arg(args, "--dir") ?? Path.GetTempPath();
        var seconds = double.Parse(Arg(args, "--seconds") ?? "3");
        var rounds = int.Parse(Arg(args, "--rounds") ?? "3");
        var root = Path.Combine(dir, "raft-wal-figures-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        try
        {
            Console.WriteLine($"WAL figures in {root}: {rounds} rounds of {seconds} s per row, rows interleaved; medians over rounds");
            // Rows alternate within each round so that a noisy neighbour hits all of them alike.
            var rows = new (string Name, int Bytes, Func<int, Result> Measure)[]
            {
                ("raw write+fdatasync", 0, r => RawSync(root, r, seconds, datasync: true)),
                ("raw write+fsync", 0, r => RawSync(root, r, seconds, datasync: false)),
                ($"Save 1 x {EntryBytes} B", EntryBytes, r => Saves(Path.Combine(root, $"wal1-{r}"), 1, seconds)),
                ($"Save 16 x {EntryBytes} B", 16 * EntryBytes, r => Saves(Path.Combine(root, $"wal16-{r}"), 16, seconds)),
                ($"Save 256 x {EntryBytes} B", 256 * EntryBytes, r => Saves(Path.Combine(root, $"wal256-{r}"), 256, seconds)),
                // The same without fdatasync: what encoding and writing cost on their own.
                ($"Save 256 x {EntryBytes} B nosync", 256 * EntryBytes, r => Saves(Path.Combine(root, $"nosync-{r}"), 256, seconds, noSync: true)),
            };
            var results = rows.Select(_ => new List<Result>()).ToArray();
            var ratios = new List<double>();
            for (var round = 0; round < rounds; round++)
            {
                for (var i = 0; i < rows.Length; i++) results[i].Add(rows[i].Measure(round));
                ratios.Add(results[2][^1].Rate / results[0][^1].Rate);
            }
            Console.WriteLine($"{"what",-31} {"ops/s",8} {"p50 ms",8} {"p99 ms",8} {"MB/s",8}   per round ops/s");
            for (var i = 0; i < rows.Length; i++)
            {
                var r = results[i];
                var rate = Median(r.Select(x => x.Rate));
                Console.WriteLine($"{rows[i].Name,-31} {rate,8:F0} {Median(r.Select(x => x.P50)),8:F3} {Median(r.Select(x => x.P99)),8:F3} "
                    + $"{(rows[i].Bytes == 0 ? "" : (rate * rows[i].Bytes / 1e6).ToString("F1")),8}   {string.Join(" ", r.Select(x => x.Rate.ToString("F0")))}");
            }
            Console.WriteLine($"single-entry Save / raw fdatasync: median {Median(ratios):P0} (rounds: {string.Join(" ", ratios.Select(x => x.ToString("P0")))})");
            return 0;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static double Median(IEnumerable<double> xs)
    {
        var a = xs.Order().ToArray();
        return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }

    private sealed record Result(double Rate, double P50, double P99);

    // The disk's own rate: one small write then a sync, over and over, in a preallocated file.
    private static Result RawSync(string root, int round, double seconds, bool datasync)
    {
        var path = Path.Combine(root, (datasync ? "raw-fdatasync" : "raw-fsync") + round);
        using var f = LockedFile.TryOpen(path, FileMode.CreateNew, FileAccess.ReadWrite)!;
        f.Preallocate(WalOptions.DefaultSegmentSizeBytes);
        var buf = new byte[EntryBytes + 24];
        long offset = 0;
        return Loop(seconds, () =>
        {
            f.Write(buf, offset);
            offset += buf.Length;
            if (datasync) f.Fdatasync();
            else f.Fsync();
        });
    }

    private static Result Saves(string dir, int perSave, double seconds, bool noSync = false)
    {
        using var w = Raft.Shell.Wal.Wal.Create(dir, new WalMetadata(1, 1).Marshal(), new WalOptions { UnsafeNoFsync = noSync });
        var data = new byte[EntryBytes];
        Random.Shared.NextBytes(data);
        ulong index = 0;
        return Loop(seconds, () =>
        {
            var ents = new Entry[perSave];
            for (var i = 0; i < perSave; i++) ents[i] = new Entry(1, ++index, EntryType.EntryNormal, data);
            w.Save(new HardState(1, 1, index), ents);
        });
    }

    private static Result Loop(double seconds, Action op)
    {
        for (var i = 0; i < 20; i++) op(); // warm up
        var lat = new List<double>();
        var total = Stopwatch.StartNew();
        var one = new Stopwatch();
        while (total.Elapsed.TotalSeconds < seconds)
        {
            one.Restart();
            op();
            lat.Add(one.Elapsed.TotalMilliseconds);
        }
        var rate = lat.Count / total.Elapsed.TotalSeconds;
        lat.Sort();
        return new Result(rate, lat[lat.Count / 2], lat[(int)(lat.Count * 0.99)]);
    }

    private static string? Arg(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
