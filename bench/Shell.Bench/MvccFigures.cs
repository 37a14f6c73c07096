using System.Diagnostics;
using Raft.Kv.Mvcc;

namespace Raft.Shell.Bench;

/// <summary>
/// <c>dotnet run -c Release --project bench/Shell.Bench -- mvcc-figures [keys]</c>: the MVCC index's
/// memory per key (managed heap after a full collection) for keys with one and with three revisions,
/// and the time to index them. etcd's treeIndex takes about 160 bytes for a key of up to 8 bytes with
/// one revision (btree slot, keyIndex, generation, revision slice and key, in Go's size classes).
/// </summary>
internal static class MvccFigures
{
    public static int Run(string[] args)
    {
        var keys = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 1_000_000;
        foreach (var revisions in new[] { 1, 3 })
        {
            var before = GC.GetTotalMemory(forceFullCollection: true);
            var index = new TreeIndex();
            var watch = Stopwatch.StartNew();
            var key = new byte[16];
            long rev = 1;
            for (var r = 0; r < revisions; r++)
            {
                for (var i = 0; i < keys; i++)
                {
                    // Keys spread over the key space, as hashed or random ids are.
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(key, (ulong)i * 0x9E3779B97F4A7C15UL);
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(key.AsSpan(8), (ulong)i);
                    index.Put(key, new Revision(++rev, 0));
                }
            }
            watch.Stop();
            var after = GC.GetTotalMemory(forceFullCollection: true);
            Console.WriteLine($"{keys} keys of 16 bytes, {revisions} revision(s) each: {(after - before) / (double)keys:F1} bytes/key, " +
                              $"{watch.Elapsed.TotalMilliseconds * 1e6 / (keys * (double)revisions):F0} ns per indexed put");
            GC.KeepAlive(index);
        }
        return 0;
    }
}
