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

    /// <summary>Whether <paramref name="key"/> falls in the range.</summary>
    public bool Contains(ReadOnlySpan<byte> key)
    {
        if (IsSingleKey) return key.SequenceEqual(Key.Span);
        return key.SequenceCompareTo(Key.Span) >= 0 && (IsOpenEnded || key.SequenceCompareTo(End.Span) < 0);
    }
}
