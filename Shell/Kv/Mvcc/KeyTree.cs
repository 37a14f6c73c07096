namespace Raft.Kv.Mvcc;

/// <summary>
/// A persistent (immutable, path-copying) AVL tree of <see cref="KeyValue"/>s ordered by key bytes,
/// with subtree sizes so that counting a key range costs O(log n). It plays the part of etcd's
/// treeIndex for the current revision: a writer builds a new tree, readers keep the one they hold.
/// </summary>
/// <remarks>
/// Each node keeps the first 8 bytes of its key as a number (<see cref="PrefixOf"/>), so that a
/// search through a large tree mostly compares numbers held in the nodes it visits instead of
/// following each node to its pair and on to the key's bytes: a lookup then costs about one cache
/// miss per level rather than three.
/// </remarks>
internal sealed class KeyTree
{
    private sealed class Node(KeyValue item, ulong prefix, Node? left, Node? right)
    {
        public readonly KeyValue Item = item;
        public readonly ulong Prefix = prefix;
        public readonly Node? Left = left;
        public readonly Node? Right = right;
        public readonly int Height = 1 + Math.Max(HeightOf(left), HeightOf(right));
        public readonly int Size = 1 + SizeOf(left) + SizeOf(right);

        public Node(KeyValue item, Node? left, Node? right) : this(item, PrefixOf(item.Key.Span), left, right) { }
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

    /// <summary>
    /// The key's first 8 bytes, big-endian, zero-padded. Keys whose prefixes differ are ordered as
    /// their prefixes are; keys with equal prefixes need their bytes compared.
    /// </summary>
    internal static ulong PrefixOf(ReadOnlySpan<byte> key)
    {
        if (key.Length >= 8) return System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(key);
        ulong p = 0;
        for (var i = 0; i < 8; i++) p = (p << 8) | (i < key.Length ? key[i] : 0UL);
        return p;
    }

    private static int Compare(ReadOnlySpan<byte> key, ulong prefix, Node n) =>
        prefix != n.Prefix ? (prefix < n.Prefix ? -1 : 1) : key.SequenceCompareTo(n.Item.Key.Span);

    /// <summary>The pair stored under <paramref name="key"/>, or null.</summary>
    public KeyValue? Get(ReadOnlySpan<byte> key)
    {
        var prefix = PrefixOf(key);
        var n = _root;
        while (n is not null)
        {
            var c = Compare(key, prefix, n);
            if (c == 0) return n.Item;
            n = c < 0 ? n.Left : n.Right;
        }
        return null;
    }

    /// <summary>A tree with <paramref name="item"/> stored under its key (inserted or replacing).</summary>
    public KeyTree Set(KeyValue item) => Upsert(item.Key.Span, item, static (_, it) => it, out _);

    /// <summary>
    /// A tree with the pair <paramref name="make"/> builds from the pair now under
    /// <paramref name="key"/> (null when absent), found in the same descent that rebuilds the path;
    /// <paramref name="make"/> must keep the key.
    /// </summary>
    public KeyTree Upsert<TState>(ReadOnlySpan<byte> key, TState state, Func<KeyValue?, TState, KeyValue> make, out KeyValue? previous) =>
        new(Insert(_root, key, PrefixOf(key), state, make, out previous));

    /// <summary>A tree without <paramref name="key"/> (the same tree when it is absent).</summary>
    public KeyTree Remove(ReadOnlySpan<byte> key)
    {
        var root = Delete(_root, key, PrefixOf(key), out var removed);
        return removed ? new KeyTree(root) : this;
    }

    /// <summary>How many keys sort strictly before <paramref name="key"/>.</summary>
    public int CountLess(ReadOnlySpan<byte> key)
    {
        var rank = 0;
        var prefix = PrefixOf(key);
        var n = _root;
        while (n is not null)
        {
            if (Compare(key, prefix, n) <= 0)
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
        var fromPrefix = PrefixOf(from);
        var toPrefix = PrefixOf(to);
        var n = _root;
        while (n is not null)
        {
            if (Compare(from, fromPrefix, n) <= 0)
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
            if (!toEnd && Compare(to, toPrefix, top) <= 0) return;
            if (!visit(top.Item)) return;
            for (var r = top.Right; r is not null; r = r.Left) stack.Push(r);
        }
    }

    private static Node Insert<TState>(Node? n, ReadOnlySpan<byte> key, ulong prefix, TState state, Func<KeyValue?, TState, KeyValue> make, out KeyValue? previous)
    {
        if (n is null)
        {
            previous = null;
            return new Node(make(null, state), prefix, null, null);
        }
        var c = Compare(key, prefix, n);
        if (c == 0)
        {
            previous = n.Item;
            return new Node(make(n.Item, state), prefix, n.Left, n.Right);
        }
        return c < 0
            ? Balance(n, Insert(n.Left, key, prefix, state, make, out previous), n.Right)
            : Balance(n, n.Left, Insert(n.Right, key, prefix, state, make, out previous));
    }

    private static Node? Delete(Node? n, ReadOnlySpan<byte> key, ulong prefix, out bool removed)
    {
        if (n is null)
        {
            removed = false;
            return null;
        }
        var c = Compare(key, prefix, n);
        if (c < 0)
        {
            var left = Delete(n.Left, key, prefix, out removed);
            return removed ? Balance(n, left, n.Right) : n;
        }
        if (c > 0)
        {
            var right = Delete(n.Right, key, prefix, out removed);
            return removed ? Balance(n, n.Left, right) : n;
        }
        removed = true;
        if (n.Left is null) return n.Right;
        if (n.Right is null) return n.Left;
        var rest = RemoveMin(n.Right, out var successor);
        return Balance(successor, n.Left, rest);
    }

    private static Node? RemoveMin(Node n, out Node min)
    {
        if (n.Left is null)
        {
            min = n;
            return n.Right;
        }
        var left = RemoveMin(n.Left, out min);
        return Balance(n, left, n.Right);
    }

    // Rebuilds a node (the pair and prefix of `at`) whose children's heights differ by at most 2,
    // restoring the AVL invariant.
    private static Node Balance(Node at, Node? left, Node? right)
    {
        var diff = HeightOf(left) - HeightOf(right);
        if (diff > 1)
        {
            var l = left!;
            if (HeightOf(l.Left) >= HeightOf(l.Right))
                return With(l, l.Left, With(at, l.Right, right));
            var lr = l.Right!;
            return With(lr, With(l, l.Left, lr.Left), With(at, lr.Right, right));
        }
        if (diff < -1)
        {
            var r = right!;
            if (HeightOf(r.Right) >= HeightOf(r.Left))
                return With(r, With(at, left, r.Left), r.Right);
            var rl = r.Left!;
            return With(rl, With(at, left, rl.Left), With(r, rl.Right, r.Right));
        }
        return With(at, left, right);
    }

    private static Node With(Node at, Node? left, Node? right) => new(at.Item, at.Prefix, left, right);

    /// <summary>Checks the ordering, balance and size invariants (for tests); returns a description of the first violation.</summary>
    internal string? Validate()
    {
        string? Check(Node? n, ReadOnlyMemory<byte>? lo, ReadOnlyMemory<byte>? hi)
        {
            if (n is null) return null;
            if (lo is { } l && n.Item.Key.Span.SequenceCompareTo(l.Span) <= 0) return "order";
            if (hi is { } h && n.Item.Key.Span.SequenceCompareTo(h.Span) >= 0) return "order";
            if (Math.Abs(HeightOf(n.Left) - HeightOf(n.Right)) > 1) return "balance";
            if (n.Prefix != PrefixOf(n.Item.Key.Span)) return "prefix";
            if (n.Size != 1 + SizeOf(n.Left) + SizeOf(n.Right)) return "size";
            return Check(n.Left, lo, n.Item.Key) ?? Check(n.Right, n.Item.Key, hi);
        }
        return Check(_root, null, null);
    }
}
