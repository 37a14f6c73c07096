using System.Diagnostics;
using System.Globalization;
using Raft.Kv.Backend;
using Raft.Kv.Mvcc;

namespace Raft.Shell.Bench;

/// <summary>
/// <c>dotnet run -c Release --project bench/Shell.Bench -- mvcc-reopen --dir DIR [--keys 1000000] [--random]</c>:
/// where a restart's open of the MVCC store goes. Writes N keys (16 bytes, 256-byte values, 128 puts
/// per write transaction, in key order or in random order with <c>--random</c>) to an LMDB store in
/// DIR, closes it, then times opening it again: the backend alone, a walk over every pair, the
/// former rebuild (a copied scan, each pair parsed into a message, each key inserted into the index
/// one at a time) and the store's own open. Prints milliseconds and the managed heap the index
/// takes per key.
/// </summary>
internal static class ReopenFigures
{
    public static int Run(string[] args)
    {
        var keys = 1_000_000;
        var random = false;
        string? parent = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--keys": keys = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--random": random = true; break;
                case "--dir": parent = args[++i]; break;
                default: throw new ArgumentException($"unknown argument {args[i]}");
            }
        }
        if (parent is null) throw new ArgumentException("--dir DIR is required");
        var dir = Path.Combine(parent, $"mvcc-reopen-{Environment.ProcessId}");
        try
        {
            Fill(dir, keys, random);
            Console.WriteLine($"{keys} keys in {(random ? "random" : "key")} order, store {new DirectoryInfo(dir).EnumerateFiles().Sum(f => f.Length) / 1e6:F0} MB");
            for (var round = 1; round <= 2; round++)
            {
                var open = Time(() => KvBackends.Open(dir).Dispose());
                var walk = Time(() =>
                {
                    using var backend = KvBackends.Open(dir);
                    using var reader = backend.OpenReader();
                    long bytes = 0;
                    reader.Visit(KvBucket.Key, (k, v) =>
                    {
                        bytes += k.Length + v.Length;
                        return true;
                    });
                });
                var fields = Time(() =>
                {
                    using var backend = KvBackends.Open(dir);
                    using var reader = backend.OpenReader();
                    var loader = new TreeIndexLoader();
                    reader.Visit(KvBucket.Key, (k, v) =>
                    {
                        var name = KeyValueFields.Read(v, out var created, out var version, out _);
                        loader.Add(name, Revision.FromKey(k), Revision.IsTombstoneKey(k), created, version);
                        return true;
                    });
                });
                var former = Time(() => FormerRebuild(dir));
                MvccStore? store = null;
                var (pause, gcs) = (GC.GetTotalPauseDuration(), GC.CollectionCount(0));
                var now = Time(() => store = new MvccStore(KvBackends.Open(dir)));
                (pause, gcs) = (GC.GetTotalPauseDuration() - pause, GC.CollectionCount(0) - gcs);
                var with = GC.GetTotalMemory(forceFullCollection: true);
                store!.Dispose();
                store = null;
                var heap = with - GC.GetTotalMemory(forceFullCollection: true);
                Console.WriteLine($"round {round}: backend open {open:F0} ms, walk of every pair {walk:F0} ms, walk and restored entries {fields:F0} ms, " +
                                  $"former rebuild {former:F0} ms, store open {now:F0} ms ({gcs} collections pausing {pause.TotalMilliseconds:F0} ms), heap of the open store {heap / (double)keys:F0} bytes/key");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
        return 0;
    }

    private static void Fill(string dir, int keys, bool random)
    {
        var order = Enumerable.Range(0, keys).ToArray();
        if (random) new Random(1).Shuffle(order);
        var value = new byte[256];
        new Random(2).NextBytes(value);
        using var store = new MvccStore(KvBackends.Open(dir), new MvccStoreOptions { BatchInterval = TimeSpan.Zero, BatchLimit = 50_000 });
        ulong index = 0;
        for (var start = 0; start < keys; start += 128)
        {
            using var txn = store.Write(++index);
            for (var i = start; i < Math.Min(keys, start + 128); i++)
                txn.Put(System.Text.Encoding.ASCII.GetBytes($"key{order[i]:D13}"), value);
        }
    }

    // The open as it was before the bulk rebuild, for a figure side by side.
    private static void FormerRebuild(string dir)
    {
        using var backend = KvBackends.Open(dir);
        using var reader = backend.OpenReader();
        var index = new TreeIndex();
        foreach (var (key, value) in reader.Scan(KvBucket.Key, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty))
        {
            var rev = Revision.FromKey(key);
            var kv = MvccStore.Decode(value);
            if (Revision.IsTombstoneKey(key))
            {
                index.Tombstone(kv.Key.Span, rev);
                continue;
            }
            index.Get(kv.Key.Span, rev.Main, out _, out _, out _);
            index.Restore(kv.Key.Span, new Revision(kv.CreateRevision, 0), rev, kv.Version);
        }
    }

    private static double Time(Action action)
    {
        var watch = Stopwatch.StartNew();
        action();
        return watch.Elapsed.TotalMilliseconds;
    }
}
