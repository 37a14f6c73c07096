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
}
