namespace Raft.Kv.Mvcc;

/// <summary>
/// A key range in etcd's conventions: an empty range end names the single key, a range end of one zero
/// byte names every key &gt;= key (etcd's mkGteRange), anything else the keys in [key, range_end).
/// A range end at or before the key names nothing.
/// </summary>
internal readonly struct KeyRange
{
    public KeyRange(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> rangeEnd)
    {
        Key = key;
        End = rangeEnd;
        IsSingleKey = rangeEnd.IsEmpty;
        IsOpenEnded = rangeEnd.Length == 1 && rangeEnd.Span[0] == 0;
    }

    public ReadOnlyMemory<byte> Key { get; }

    public ReadOnlyMemory<byte> End { get; }

    public bool IsSingleKey { get; }

    public bool IsOpenEnded { get; }

    /// <summary>How many keys of <paramref name="tree"/> fall in the range.</summary>
    public int CountIn(KeyTree tree)
    {
        if (IsSingleKey) return tree.Get(Key.Span) is null ? 0 : 1;
        var from = tree.CountLess(Key.Span);
        var to = IsOpenEnded ? tree.Count : tree.CountLess(End.Span);
        return Math.Max(0, to - from);
    }

    /// <summary>The pairs of <paramref name="tree"/> in the range, in key order, at most <paramref name="limit"/> (0: all).</summary>
    public List<KeyValue> Collect(KeyTree tree, int limit)
    {
        var result = new List<KeyValue>();
        if (IsSingleKey)
        {
            if (tree.Get(Key.Span) is { } kv) result.Add(kv);
            return result;
        }
        tree.Visit(Key.Span, End.Span, IsOpenEnded, kv =>
        {
            result.Add(kv);
            return limit <= 0 || result.Count < limit;
        });
        return result;
    }
}
