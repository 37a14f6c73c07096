using System.Buffers.Binary;
using Raft.Kv.Backend;
using Raft.Kv.Mvcc;

namespace Raft.Tests.WalCrashChild;

/// <summary>
/// The batches the key-value backend crash test commits, the same for writer and checker. Batch b
/// (from 1) puts <see cref="Size"/>(b) pairs under <see cref="Key"/>(b, i) in bucket Key, deletes
/// the pairs of batch b - 2, sets Lease "last" and Meta "batch" to b. So after batch B the Key
/// bucket holds exactly the pairs of batches B - 1 and B, and any partly applied batch shows.
/// </summary>
public static class KvCrashBatch
{
    /// <summary>The Meta key holding the last committed batch number.</summary>
    public static readonly byte[] BatchKey = "batch"u8.ToArray();

    /// <summary>The Lease key every batch overwrites.</summary>
    public static readonly byte[] LastKey = "last"u8.ToArray();

    /// <summary>How many pairs batch <paramref name="b"/> puts: 1 to 3,000, spread by a hash.</summary>
    public static int Size(long b) => 1 + (int)(((ulong)b * 0x9E3779B97F4A7C15UL >> 40) % 3000);

    /// <summary>An etcd-shaped revision key: batch, '_', index (the store's own encoding).</summary>
    public static byte[] Key(long b, int i) => new Revision(b, i).ToKey();

    /// <summary>The value of pair i of batch b: 100 to 400 bytes that depend on both.</summary>
    public static byte[] Value(long b, int i)
    {
        var v = new byte[100 + (int)((b * 31 + i) % 301)];
        for (var j = 0; j < v.Length; j++) v[j] = (byte)(b * 7 + i * 13 + j);
        return v;
    }

    /// <summary>The 8-byte big-endian form of a batch number.</summary>
    public static byte[] Number(long b)
    {
        var n = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(n, b);
        return n;
    }

    /// <summary>Commits batch <paramref name="b"/>.</summary>
    public static void Commit(IKvBackend backend, long b)
    {
        using var batch = backend.BeginBatch();
        for (var i = 0; i < Size(b); i++) batch.Put(KvBucket.Key, Key(b, i), Value(b, i));
        if (b > 2)
            for (var i = 0; i < Size(b - 2); i++) batch.Delete(KvBucket.Key, Key(b - 2, i));
        batch.Put(KvBucket.Lease, LastKey, Number(b));
        batch.Put(KvBucket.Meta, BatchKey, Number(b));
        batch.Commit();
    }

    /// <summary>The last committed batch, from Meta (0 for an empty database).</summary>
    public static long Last(IKvBackendReader reader) =>
        reader.Get(KvBucket.Meta, BatchKey) is { } n ? BinaryPrimitives.ReadInt64BigEndian(n) : 0;

    /// <summary>
    /// Problems with the state a reader sees: it must be exactly the state after batch
    /// <see cref="Last"/> (null when it is).
    /// </summary>
    public static string? Check(IKvBackendReader reader)
    {
        var last = Last(reader);
        var lease = reader.Get(KvBucket.Lease, LastKey);
        if (last == 0) return lease is null && !reader.Scan(KvBucket.Key, default, default).Any() ? null : "batch 0 but data present";
        if (lease is null || BinaryPrimitives.ReadInt64BigEndian(lease) != last) return $"Meta says batch {last}, Lease says {(lease is null ? "nothing" : BinaryPrimitives.ReadInt64BigEndian(lease))}";
        var expected = new List<(byte[] K, byte[] V)>();
        for (var b = Math.Max(1, last - 1); b <= last; b++)
            for (var i = 0; i < Size(b); i++) expected.Add((Key(b, i), Value(b, i)));
        var actual = reader.Scan(KvBucket.Key, default, default).ToList();
        if (actual.Count != expected.Count) return $"batch {last}: Key bucket has {actual.Count} pairs, expected {expected.Count}";
        for (var j = 0; j < actual.Count; j++)
            if (!actual[j].Key.AsSpan().SequenceEqual(expected[j].K) || !actual[j].Value.AsSpan().SequenceEqual(expected[j].V))
                return $"batch {last}: pair {j} differs";
        return null;
    }
}
