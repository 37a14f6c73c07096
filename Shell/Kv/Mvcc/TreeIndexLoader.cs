namespace Raft.Kv.Mvcc;

/// <summary>
/// Rebuilds a <see cref="TreeIndex"/> from the Key bucket's pairs in revision order (etcd's
/// store.restore) in bulk: each pair becomes a restored entry, the entries are sorted by key once
/// (keys written in key order are found sorted and not sorted again), a key's later revisions and
/// tombstones are folded into its entry in revision order, and the index is filled with full
/// chunks. Inserting a million keys one at a time, each with two searches under the index's lock,
/// was most of a restart.
/// </summary>
internal sealed class TreeIndexLoader
{
    private struct Change
    {
        public byte[] Entry;
        public Revision Revision;
        public bool Tombstone;
    }

    private Change[] _changes = new Change[1024];
    private int _count;
    private bool _sorted = true;

    /// <summary>Adds the next pair in revision order: a put restored as etcd's keyIndex.restore does, or a tombstone.</summary>
    // Runs for every pair at a start, before tiered compilation would have optimized it.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void Add(ReadOnlySpan<byte> key, Revision revision, bool tombstone, long createRevision, long version)
    {
        var entry = KeyHistory.Restore(key, new Revision(tombstone ? 0 : createRevision, 0), revision, tombstone ? 0 : version);
        if (_count == _changes.Length) Array.Resize(ref _changes, _count * 2);
        if (_sorted && _count > 0 && KeyHistory.KeyOf(_changes[_count - 1].Entry).SequenceCompareTo(key) >= 0) _sorted = false;
        _changes[_count++] = new Change { Entry = entry, Revision = revision, Tombstone = tombstone };
    }

    /// <summary>Fills <paramref name="index"/> with what was added; returns how many keys are alive.</summary>
    public long LoadInto(TreeIndex index)
    {
        var entries = _sorted ? FromSorted() : Merge();
        _changes = [];
        index.LoadSorted(entries);
        // Every entry has a generation; it is alive unless its last change was a tombstone.
        return _sorted ? entries.Count : entries.Count(e => KeyHistory.Get(e, long.MaxValue, out _, out _, out _));
    }

    // Keys in strictly increasing order: each came once, and a tombstone there names a key whose put
    // was compacted away, so the index skips it.
    private List<byte[]> FromSorted()
    {
        var entries = new List<byte[]>(_count);
        for (var i = 0; i < _count; i++)
            if (!_changes[i].Tombstone) entries.Add(_changes[i].Entry);
        return entries;
    }

    private List<byte[]> Merge()
    {
        var order = new int[_count];
        for (var i = 0; i < _count; i++) order[i] = i;
        // Stable by key: a key's changes keep their revision order.
        if (!_sorted) Array.Sort(order, new ByKeyThenPosition(_changes));
        var entries = new List<byte[]>(_count);
        for (var i = 0; i < _count;)
        {
            var key = KeyHistory.KeyOf(_changes[order[i]].Entry);
            byte[]? entry = null;
            var j = i;
            for (; j < _count && (j == i || KeyHistory.KeyOf(_changes[order[j]].Entry).SequenceEqual(key)); j++)
            {
                var change = _changes[order[j]];
                // A tombstone of a key the index does not hold (its put compacted away) is skipped,
                // as is one of a key already deleted: the same as applying them one at a time.
                if (change.Tombstone) entry = entry is null ? null : KeyHistory.Tombstone(entry, change.Revision) ?? entry;
                else entry = entry is null ? change.Entry : KeyHistory.Put(entry, change.Revision);
            }
            if (entry is not null) entries.Add(entry);
            i = j;
        }
        return entries;
    }

    private sealed class ByKeyThenPosition(Change[] changes) : IComparer<int>
    {
        public int Compare(int a, int b)
        {
            var c = KeyHistory.KeyOf(changes[a].Entry).SequenceCompareTo(KeyHistory.KeyOf(changes[b].Entry));
            return c != 0 ? c : a.CompareTo(b);
        }
    }
}
