using System.Buffers.Binary;
using System.Diagnostics;

namespace Raft.Store.Bench;

/// <summary>
/// <c>[--dir DIR] [--entries N] [--only lmdb,rocksdb,sqlite,zonetree,backend] [--seed S]</c>: the MVCC store's
/// workload against each candidate database. Keys are etcd's 17-byte revisions (8-byte big-endian
/// main revision, '_', 8-byte sub revision), values a KeyValue message with a 256-byte value
/// (~300 bytes). Prints one line of figures per candidate and a markdown table at the end. A plain
/// loop rather than BenchmarkDotNet: every commit waits on fsync, so what matters is the rate.
/// </summary>
internal static class Program
{
    private const int ValueBytes = 256;

    private static readonly (string Name, Func<string, ICandidate> Open)[] All =
    [
        ("lmdb", d => new LmdbCandidate(d)),
        ("rocksdb", d => new RocksCandidate(d)),
        ("sqlite", d => new SqliteCandidate(d)),
        ("zonetree", d => new ZoneTreeCandidate(d)),
        ("backend", d => new BackendCandidate(d)),
    ];

    private static int Main(string[] args)
    {
        var dir = Arg(args, "--dir") ?? Path.GetTempPath();
        var entries = int.Parse(Arg(args, "--entries") ?? "1000000");
        var seed = int.Parse(Arg(args, "--seed") ?? "1");
        var only = (Arg(args, "--only") ?? string.Join(',', All.Select(c => c.Name))).Split(',');
        var root = Path.Combine(dir, "raft-store-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        Console.WriteLine($"store bench in {root}: {entries:N0} entries of 17 B + {Value(new Random(seed), 1).Length} B; " +
                          $"{Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        var rows = new List<string>();
        try
        {
            foreach (var (name, open) in All.Where(c => only.Contains(c.Name)))
            {
                var r = Measure(name, open, Path.Combine(root, name), root, entries, seed);
                rows.Add(r);
                Directory.Delete(Path.Combine(root, name), true);
            }
        }
        finally
        {
            Directory.Delete(root, true);
        }
        Console.WriteLine();
        Console.WriteLine("| database | load, 10,000/commit (puts/s) | 1,000/commit (puts/s) | scan 1,000 (scans/s) | get (gets/s) | reopen (ms) | disk per 1M (MB) | checkpoint (s, MB) | writer during checkpoint (puts/s of 100,000; p99 commit before → during) |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows) Console.WriteLine(r);
        return 0;
    }

    private static string Measure(string name, Func<string, ICandidate> open, string dir, string scratch, int entries, int seed)
    {
        var rng = new Random(seed);
        long main = 0;
        List<(byte[], byte[])> Batch(int n)
        {
            var b = new List<(byte[], byte[])>(n);
            for (var i = 0; i < n; i++) { main++; b.Add((Rev(main, 0), Value(rng, main))); }
            return b;
        }

        var db = open(dir);
        // Load: 10,000 puts per commit (etcd's batch limit), fsync on each commit.
        var sw = Stopwatch.StartNew();
        for (var done = 0; done < entries; done += 10_000) db.Commit(Batch(Math.Min(10_000, entries - done)));
        var load = entries / sw.Elapsed.TotalSeconds;
        Console.WriteLine($"{name}: load {load:N0} puts/s ({sw.Elapsed.TotalSeconds:F1} s)");

        // 1,000 puts per commit: 100 commits.
        sw.Restart();
        for (var i = 0; i < 100; i++) db.Commit(Batch(1_000));
        var small = 100_000 / sw.Elapsed.TotalSeconds;
        Console.WriteLine($"{name}: 1,000/commit {small:N0} puts/s ({100 / sw.Elapsed.TotalSeconds:N0} commits/s)");

        // Range scans of 1,000 consecutive revisions from random starts.
        sw.Restart();
        long scanned = 0;
        for (var i = 0; i < 300; i++) scanned += db.Scan(Rev(1 + rng.NextInt64(main - 1000), 0), 1000);
        var scans = 300 / sw.Elapsed.TotalSeconds;
        if (scanned < 300L * 1000 * 17) throw new InvalidOperationException($"{name}: scans read {scanned} bytes");
        Console.WriteLine($"{name}: scan {scans:N0} scans/s");

        // Point gets of random revisions.
        sw.Restart();
        for (var i = 0; i < 100_000; i++)
            if (db.Get(Rev(1 + rng.NextInt64(main), 0)) is null) throw new InvalidOperationException($"{name}: get missed");
        var gets = 100_000 / sw.Elapsed.TotalSeconds;
        Console.WriteLine($"{name}: get {gets:N0} gets/s");

        // Reopen (page cache warm: the figure is the database's own start-up work, e.g. WAL replay).
        db.Dispose();
        var sizeMb = DirBytes(dir) / 1e6 * 1_000_000 / main;
        sw.Restart();
        db = open(dir);
        if (db.Get(Rev(main, 0)) is null) throw new InvalidOperationException($"{name}: lost the last entry");
        var reopenMs = sw.Elapsed.TotalMilliseconds;
        Console.WriteLine($"{name}: reopen {reopenMs:F0} ms with {main:N0} entries; {sizeMb:F0} MB per million on disk");

        // Checkpoint while a writer commits 1,000 puts every 10 ms (100,000 puts/s, etcd's pace of
        // 10,000 changes per 100 ms): the commit latency before and during the copy is the effect.
        var stop = false;
        var latencies = new List<(double At, double Ms)>();
        var writerRng = new Random(seed + 1);
        var clock = Stopwatch.StartNew();
        var writer = new Thread(() =>
        {
            var next = main;
            var slot = clock.Elapsed.TotalMilliseconds;
            while (!Volatile.Read(ref stop))
            {
                var b = new List<(byte[], byte[])>(1000);
                for (var i = 0; i < 1000; i++) { next++; b.Add((Rev(next, 0), Value(writerRng, next))); }
                var t0 = clock.Elapsed.TotalMilliseconds;
                db.Commit(b);
                var t1 = clock.Elapsed.TotalMilliseconds;
                lock (latencies) latencies.Add((t0, t1 - t0));
                slot += 10;
                if (slot > t1) Thread.Sleep(TimeSpan.FromMilliseconds(slot - t1));
                else slot = t1;
            }
        });
        writer.Start();
        Thread.Sleep(2000);
        var cpStart = clock.Elapsed.TotalMilliseconds;
        var cpFile = Path.Combine(scratch, name + ".checkpoint");
        long cpBytes;
        using (var fs = new FileStream(cpFile, FileMode.Create, FileAccess.Write))
        {
            db.Checkpoint(fs, scratch);
            cpBytes = fs.Length;
        }
        var cpEnd = clock.Elapsed.TotalMilliseconds;
        Volatile.Write(ref stop, true);
        writer.Join();
        File.Delete(cpFile);
        var cpSeconds = (cpEnd - cpStart) / 1000;
        var before = latencies.Where(l => l.At >= 500 && l.At < cpStart).Select(l => l.Ms).ToList();
        var duringL = latencies.Where(l => l.At >= cpStart && l.At < cpEnd).Select(l => l.Ms).ToList();
        var during = duringL.Count * 1000 / cpSeconds;
        Console.WriteLine($"{name}: checkpoint {cpSeconds:F1} s, {cpBytes / 1e6:F0} MB; writer {during:N0} puts/s during (target 100,000); " +
                          $"commit p50/p99/max ms before {Pct(before, 50):F1}/{Pct(before, 99):F1}/{Pct(before, 100):F1}, during {Pct(duringL, 50):F1}/{Pct(duringL, 99):F1}/{Pct(duringL, 100):F1}");
        db.Dispose();
        return $"| {name} | {load:N0} | {small:N0} | {scans:N0} | {gets:N0} | {reopenMs:F0} | {sizeMb:F0} | {cpSeconds:F1} s, {cpBytes / 1e6:F0} MB | {during:N0}; p99 {Pct(before, 99):F0} → {Pct(duringL, 99):F0} ms |";
    }

    /// <summary>etcd's revision key: main revision, '_', sub revision, both 8-byte big-endian.</summary>
    internal static byte[] Rev(long main, long sub)
    {
        var k = new byte[17];
        BinaryPrimitives.WriteInt64BigEndian(k, main);
        k[8] = (byte)'_';
        BinaryPrimitives.WriteInt64BigEndian(k.AsSpan(9), sub);
        return k;
    }

    /// <summary>
    /// A KeyValue message as etcd stores it (key, create/mod revision, version, value) with a
    /// random 256-byte value, hand-encoded so the figures do not measure the protobuf library.
    /// </summary>
    internal static byte[] Value(Random rng, long rev)
    {
        var key = System.Text.Encoding.ASCII.GetBytes($"/registry/key/{rev % 100_000:D6}");
        var ms = new MemoryStream(320);
        ms.WriteByte(0x0A); ms.WriteByte((byte)key.Length); ms.Write(key);
        foreach (var (tag, v) in new[] { (0x10, rev), (0x18, rev), (0x20, 1L) })
        {
            ms.WriteByte((byte)tag);
            var u = (ulong)v;
            while (u >= 0x80) { ms.WriteByte((byte)(u | 0x80)); u >>= 7; }
            ms.WriteByte((byte)u);
        }
        var value = new byte[ValueBytes];
        rng.NextBytes(value);
        ms.WriteByte(0x2A); ms.WriteByte(0x80); ms.WriteByte(0x02); ms.Write(value);
        return ms.ToArray();
    }

    private static double Pct(List<double> xs, int p)
    {
        if (xs.Count == 0) return double.NaN;
        var s = xs.OrderBy(x => x).ToList();
        return s[Math.Min(s.Count - 1, (int)Math.Ceiling(p / 100.0 * s.Count) - 1 < 0 ? 0 : (int)Math.Ceiling(p / 100.0 * s.Count) - 1)];
    }

    private static long DirBytes(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    private static string? Arg(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
