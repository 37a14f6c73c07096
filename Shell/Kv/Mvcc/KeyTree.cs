namespace Raft.Kv.Mvcc;

/// <summary>
/// A persistent (immutable, path-copying) AVL tree of <see cref="KeyValue"/>s ordered by key bytes,
/// with subtree sizes so that counting a key range costs O(log n). It plays the part of etcd's
/// treeIndex for the current revision: a writer builds a new tree, readers keep the one they hold.
/// </summary>
internal sealed class KeyTree
{
    private sealed class Node(KeyValue item, Node? left, Node? right)
    {
        public readonly KeyValue Item = item;
        public readonly Node? Left = left;
        public readonly Node? Right = right;
        public readonly int Height = 1 + Math.Max(HeightOf(left), HeightOf(right));
        public readonly int Size = 1 + SizeOf(left) + SizeOf(right);
    }

    private readonly Node? _root;

    private KeyTree(Node? root) => _root = root;

    /// <summary>The empty tree.</summary>
    public static KeyTree Empty { get; } = new(null);

    /// <summary>A balanced tree of <paramref name="sorted"/>, which must be in strictly increasing key order.</summary>
    public static KeyTree FromSorted(IReadOnlyList<KeyValue> sorted)
    {
        Node? Build(int lo, int hi)
        {
            if (lo >= hi) return null;
            var mid = lo + (hi - lo) / 2;
            return new Node(sorted[mid], Build(lo, mid), Build(mid + 1, hi));
        }
        return new KeyTree(Build(0, sorted.Count));
    }

    /// <summary>Number of keys.</summary>
    public int Count => SizeOf(_root);

    private static int HeightOf(Node? n) => n?.Height ?? 0;

    private static int SizeOf(Node? n) => n?.Size ?? 0;

    private static int Compare(ReadOnlySpan<byte> a, ReadOnlyMemory<byte> b) => a.SequenceCompareTo(b.Span);

    /// <summary>The pair stored under <paramref name="key"/>, or null.</summary>
    public KeyValue? Get(ReadOnlySpan<byte> key)
    {
        var n = _root;
        while (n is not null)
        {
            var c = Compare(key, n.Item.Key);
            if (c == 0) return n.Item;
            n = c < 0 ? n.Left : n.Right;
        }
        return null;
    }

    /// <summary>A tree with <paramref name="item"/> stored under its key (inserted or replacing).</summary>
    public KeyTree Set(KeyValue item) => new(Insert(_root, item));

    /// <summary>A tree without <paramref name="key"/> (the same tree when it is absent).</summary>
    public KeyTree Remove(ReadOnlySpan<byte> key)
    {
        var root = Delete(_root, key, out var removed);
        return removed ? new KeyTree(root) : this;
    }

    /// <summary>How many keys sort strictly before <paramref name="key"/>.</summary>
    public int CountLess(ReadOnlySpan<byte> key)
    {
        var rank = 0;
        var n = _root;
        while (n is not null)
        {
            if (Compare(key, n.Item.Key) <= 0)
            {
                n = n.Left;
            }
            else
            {
                rank += SizeOf(n.Left) + 1;
                n = n.Right;
            }
        }
        return rank;
    }

    /// <summary>
    /// Calls <paramref name="visit"/> for each pair with key in [<paramref name="from"/>, <paramref name="to"/>)
    /// in key order (to the last key when <paramref name="to"/> is null) until it returns false.
    /// </summary>
    public void Visit(ReadOnlySpan<byte> from, ReadOnlySpan<byte> to, bool toEnd, Func<KeyValue, bool> visit)
    {
        // Iterative in-order walk seeded with the path to the first key >= from.
        var stack = new Stack<Node>(Math.Max(1, HeightOf(_root)));
        var n = _root;
        while (n is not null)
        {
            if (Compare(from, n.Item.Key) <= 0)
            {
                stack.Push(n);
                n = n.Left;
            }
            else
            {
                n = n.Right;
            }
        }
        while (stack.Count > 0)
        {
            var top = stack.Pop();
            if (!toEnd && Compare(to, top.Item.Key) <= 0) return;
            if (!visit(top.Item)) return;
            for (var r = top.Right; r is not null; r = r.Left) stack.Push(r);
        }
    }

    private static Node Insert(Node? n, KeyValue item)
    {
        if (n is null) return new Node(item, null, null);
        var c = Compare(item.Key.Span, n.Item.Key);
        if (c == 0) return new Node(item, n.Left, n.Right);
        return c < 0
            ? Balance(n.Item, Insert(n.Left, item), n.Right)
            : Balance(n.Item, n.Left, Insert(n.Right, item));
    }

    private static Node? Delete(Node? n, ReadOnlySpan<byte> key, out bool removed)
    {
        if (n is null)
        {
            removed = false;
            return null;
        }
        var c = Compare(key, n.Item.Key);
        if (c < 0)
        {
            var left = Delete(n.Left, key, out removed);
            return removed ? Balance(n.Item, left, n.Right) : n;
        }
        if (c > 0)
        {
            var right = Delete(n.Right, key, out removed);
            return removed ? Balance(n.Item, n.Left, right) : n;
        }
        removed = true;
        if (n.Left is null) return n.Right;
        if (n.Right is null) return n.Left;
        var rest = RemoveMin(n.Right, out var successor);
        return Balance(successor, n.Left, rest);
    }

    private static Node? RemoveMin(Node n, out KeyValue min)
    {
        if (n.Left is null)
        {
            min = n.Item;
            return n.Right;
        }
        var left = RemoveMin(n.Left, out min);
        return Balance(n.Item, left, n.Right);
    }

    // Rebuilds a node whose children's heights differ by at most 2, restoring the AVL invariant.
    private static Node Balance(KeyValue item, Node? left, Node? right)
    {
        var diff = HeightOf(left) - HeightOf(right);
        if (diff > 1)
        {
            var l = left!;
            if (HeightOf(l.Left) >= HeightOf(l.Right))
                return new Node(l.Item, l.Left, new Node(item, l.Right, right));
            var lr = l.Right!;
            return new Node(lr.Item, new Node(l.Item, l.Left, lr.Left), new Node(item, lr.Right, right));
        }
        if (diff < -1)
        {
            var r = right!;
            if (HeightOf(r.Right) >= HeightOf(r.Left))
                return new Node(r.Item, new Node(item, left, r.Left), r.Right);
            var rl = r.Left!;
            return new Node(rl.Item, new Node(item, left, rl.Left), new Node(r.Item, rl.Right, r.Right));
        }
        return new Node(item, left, right);
    }

    /// <summary>Checks the ordering, balance and size invariants (for tests); returns a description of the first violation.</summary>
    internal string? Validate()
    {
        string? Check(Node? n, ReadOnlyMemory<byte>? lo, ReadOnlyMemory<byte>? hi)
        {
            if (n is null) return null;
            if (lo is { } l && n.Item.Key.Span.SequenceCompareTo(l.Span) <= 0) return "order";
            if (hi is { } h && n.Item.Key.Span.SequenceCompareTo(h.Span) >= 0) return "order";
            if (Math.Abs(HeightOf(n.Left) - HeightOf(n.Right)) > 1) return "balance";
            if (n.Size != 1 + SizeOf(n.Left) + SizeOf(n.Right)) return "size";
            return Check(n.Left, lo, n.Item.Key) ?? Check(n.Right, n.Item.Key, hi);
        }
        return Check(_root, null, null);
    }
}
