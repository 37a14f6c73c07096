using Raft.Kv.Mvcc;

namespace Raft.Shell.Tests.Kv;

public class KeyTreeTests
{
    private static KeyValue Kv(int k) => new(BitConverter.GetBytes(k).Reverse().ToArray(), 2, 2, 1, default);

    [Fact]
    public void StaysBalancedSortedAndSizedThroughInsertsAndRemovesAndOldVersionsStayIntact()
    {
        var rng = new Random(7);
        var tree = KeyTree.Empty;
        var model = new SortedSet<int>();
        var versions = new List<(KeyTree Tree, int[] Keys)>();
        for (var i = 0; i < 5000; i++)
        {
            var k = rng.Next(0, 400);
            if (rng.Next(3) == 0)
            {
                tree = tree.Remove(Kv(k).Key.Span);
                model.Remove(k);
            }
            else
            {
                tree = tree.Set(Kv(k));
                model.Add(k);
            }
            if (i % 500 == 0) versions.Add((tree, model.ToArray()));
        }
        Assert.Null(tree.Validate());
        Assert.Equal(model.Count, tree.Count);
        foreach (var (old, keys) in versions)
        {
            Assert.Null(old.Validate());
            var seen = new List<int>();
            old.Visit(ReadOnlySpan<byte>.Empty, ReadOnlySpan<byte>.Empty, true, kv =>
            {
                seen.Add(System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(kv.Key.Span));
                return true;
            });
            Assert.Equal(keys, seen);
        }
        // Ranks agree with the model (keys are non-negative, so big-endian bytes order like the ints).
        for (var k = 0; k <= 401; k += 7)
            Assert.Equal(model.Count(x => x < k), tree.CountLess(Kv(k).Key.Span));
    }

    [Fact]
    public void FromSortedBuildsAValidTree()
    {
        var items = Enumerable.Range(0, 1000).Select(Kv).ToList();
        var tree = KeyTree.FromSorted(items);
        Assert.Null(tree.Validate());
        Assert.Equal(1000, tree.Count);
        Assert.Equal(500, tree.CountLess(Kv(500).Key.Span));
    }

    // Keys that share long prefixes, differ in length, and hold zero bytes: where the 8-byte
    // prefixes kept in the nodes are equal, or differ only by padding.
    private static byte[] AwkwardKey(Random rng)
    {
        var key = new byte[rng.Next(1, 13)];
        for (var i = 0; i < key.Length; i++) key[i] = (byte)(rng.Next(4) switch { 0 => 0x00, 1 => 0x01, 2 => 0x61, _ => 0xff });
        return key;
    }

    private sealed class BytesComparer : IComparer<byte[]>
    {
        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }

    /// <summary>Whether keys with differing prefixes are ordered as their prefixes are, over many pairs.</summary>
    private static bool PrefixOrdersLikeKeys(Func<byte[], ulong> prefix)
    {
        var rng = new Random(11);
        for (var i = 0; i < 20_000; i++)
        {
            var (a, b) = (AwkwardKey(rng), AwkwardKey(rng));
            var (pa, pb) = (prefix(a), prefix(b));
            if (pa != pb && Math.Sign(pa.CompareTo(pb)) != Math.Sign(a.AsSpan().SequenceCompareTo(b))) return false;
        }
        return true;
    }

    [Fact]
    public void KeysWithDifferentPrefixesSortAsTheirPrefixes()
    {
        Assert.True(PrefixOrdersLikeKeys(k => KeyTree.PrefixOf(k)));
        // A prefix read little-endian breaks the order, and the check says so.
        Assert.False(PrefixOrdersLikeKeys(k => System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(
            k.Length >= 8 ? k : [.. k, .. new byte[8 - k.Length]])));
    }

    [Fact]
    public void KeysSharingPrefixesAreFoundCountedAndVisitedInByteOrder()
    {
        var rng = new Random(5);
        var tree = KeyTree.Empty;
        var model = new SortedSet<byte[]>(new BytesComparer());
        for (var i = 0; i < 4000; i++)
        {
            var k = AwkwardKey(rng);
            if (rng.Next(4) == 0)
            {
                tree = tree.Remove(k);
                model.Remove(k);
            }
            else
            {
                tree = tree.Upsert(k, (k, i), static (prev, s) =>
                    new KeyValue(prev?.Key ?? s.k, 2, 2 + s.i, (prev?.Version ?? 0) + 1, default), out var prev);
                Assert.Equal(model.Contains(k), prev is not null);
                model.Add(k);
            }
        }
        Assert.Null(tree.Validate());
        Assert.Equal(model.Count, tree.Count);
        var seen = new List<byte[]>();
        tree.Visit(ReadOnlySpan<byte>.Empty, ReadOnlySpan<byte>.Empty, true, kv =>
        {
            seen.Add(kv.Key.ToArray());
            return true;
        });
        Assert.Equal(model.ToList(), seen);
        for (var i = 0; i < 500; i++)
        {
            var k = AwkwardKey(rng);
            Assert.Equal(model.Contains(k), tree.Get(k) is not null);
            Assert.Equal(model.Count(x => x.AsSpan().SequenceCompareTo(k) < 0), tree.CountLess(k));
        }
    }
}
