namespace Raft.Kv.Mvcc;

/// <summary>
/// The in-memory index of every key's history (etcd's treeIndex): keys in byte order, each with its
/// generations packed by <see cref="KeyHistory"/>. Safe for one writer and many readers.
/// </summary>
/// <remarks>
/// A two-level B-tree: a list of sorted chunks of at most <see cref="MaxChunk"/> entries. A key costs
/// one reference in a chunk plus its packed array, and a lookup is a binary search over the chunks'
/// first keys and one inside a chunk. Chunks split when full and go when empty; with deletes spread
/// out, half-empty chunks merge with a neighbour so the slack stays bounded.
/// </remarks>
internal sealed class TreeIndex
{
    private const int MaxChunk = 512;

    private sealed class Chunk(byte[][] items, int count)
    {
        public byte[][] Items = items;
        public int Count = count;
    }

    private readonly List<Chunk> _chunks = [];
    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private int _count;

    /// <summary>A deliberate bug for the tests' broken store: a delete adds its revision without ending the generation.</summary>
    internal bool FaultDeleteKeepsGeneration { get; set; }

    /// <summary>How many keys have a history (alive or deleted but not yet compacted away).</summary>
    public int Count
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return _count;
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    /// <summary>Adds <paramref name="rev"/> to the key's history (creating it, or a new generation after a delete).</summary>
    public void Put(ReadOnlySpan<byte> key, Revision rev)
    {
        _lock.EnterWriteLock();
        try
        {
            var (chunk, pos, found) = Find(key);
            if (found) _chunks[chunk].Items[pos] = KeyHistory.Put(_chunks[chunk].Items[pos], rev);
            else Insert(chunk, pos, KeyHistory.Create(key, rev));
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>Ends the key's current generation at <paramref name="rev"/>; false when the key is not alive.</summary>
    public bool Tombstone(ReadOnlySpan<byte> key, Revision rev)
    {
        _lock.EnterWriteLock();
        try
        {
            var (chunk, pos, found) = Find(key);
            if (!found) return false;
            var next = FaultDeleteKeepsGeneration
                ? KeyHistory.Put(_chunks[chunk].Items[pos], rev)
                : KeyHistory.Tombstone(_chunks[chunk].Items[pos], rev);
            if (next is null) return false;
            _chunks[chunk].Items[pos] = next;
            return true;
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>Adds a key restored from the backend, or adds the revision to a restored key's history.</summary>
    public void Restore(ReadOnlySpan<byte> key, Revision created, Revision modified, long version)
    {
        _lock.EnterWriteLock();
        try
        {
            var (chunk, pos, found) = Find(key);
            if (found) _chunks[chunk].Items[pos] = KeyHistory.Put(_chunks[chunk].Items[pos], modified);
            else Insert(chunk, pos, KeyHistory.Restore(key, created, modified, version));
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>The key as of main revision <paramref name="atRev"/> (see <see cref="KeyHistory.Get"/>).</summary>
    public bool Get(ReadOnlySpan<byte> key, long atRev, out Revision modified, out Revision created, out long version)
    {
        _lock.EnterReadLock();
        try
        {
            var (chunk, pos, found) = Find(key);
            if (found) return KeyHistory.Get(_chunks[chunk].Items[pos], atRev, out modified, out created, out version);
            modified = created = default;
            version = 0;
            return false;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>
    /// Calls <paramref name="visit"/> with each key of <paramref name="range"/> alive at main revision
    /// <paramref name="atRev"/> and its revision then, in key order, until it returns false.
    /// </summary>
    public void Visit(KeyRange range, long atRev, Func<byte[], Revision, bool> visit)
    {
        _lock.EnterReadLock();
        try
        {
            if (range.IsSingleKey)
            {
                var (c, p, found) = Find(range.Key.Span);
                if (found && KeyHistory.Get(_chunks[c].Items[p], atRev, out var rev, out _, out _))
                    visit(_chunks[c].Items[p], rev);
                return;
            }
            var (chunk, pos, _) = Find(range.Key.Span);
            for (; chunk < _chunks.Count; chunk++, pos = 0)
            {
                var items = _chunks[chunk];
                for (; pos < items.Count; pos++)
                {
                    var entry = items.Items[pos];
                    if (!range.IsOpenEnded && KeyHistory.KeyOf(entry).SequenceCompareTo(range.End.Span) >= 0) return;
                    if (KeyHistory.Get(entry, atRev, out var rev, out _, out _) && !visit(entry, rev)) return;
                }
            }
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>
    /// Compacts every key's history at main revision <paramref name="atRev"/> and removes keys left
    /// with none; returns the revisions whose backend pairs must stay.
    /// </summary>
    public HashSet<Revision> Compact(long atRev)
    {
        var available = new HashSet<Revision>();
        _lock.EnterWriteLock();
        try
        {
            for (var c = 0; c < _chunks.Count; c++)
            {
                var chunk = _chunks[c];
                var kept = 0;
                for (var i = 0; i < chunk.Count; i++)
                {
                    var next = KeyHistory.Compact(chunk.Items[i], atRev, available);
                    if (next is not null) chunk.Items[kept++] = next;
                }
                Array.Clear(chunk.Items, kept, chunk.Count - kept);
                _count -= chunk.Count - kept;
                chunk.Count = kept;
            }
            _chunks.RemoveAll(ch => ch.Count == 0);
            MergeSmallChunks();
        }
        finally
        {
            _lock.ExitWriteLock();
        }
        return available;
    }

    /// <summary>
    /// Replaces the whole index with <paramref name="entries"/>, which must be in strictly increasing
    /// key order (see <see cref="TreeIndexLoader"/>): full chunks built in one pass, no searches.
    /// </summary>
    public void LoadSorted(IReadOnlyList<byte[]> entries)
    {
        _lock.EnterWriteLock();
        try
        {
            _chunks.Clear();
            for (var start = 0; start < entries.Count; start += MaxChunk)
            {
                var count = Math.Min(MaxChunk, entries.Count - start);
                var items = new byte[count][];
                for (var i = 0; i < count; i++) items[i] = entries[start + i];
                _chunks.Add(new Chunk(items, count));
            }
            _count = entries.Count;
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>Forgets every key.</summary>
    public void Clear()
    {
        _lock.EnterWriteLock();
        try
        {
            _chunks.Clear();
            _count = 0;
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>Every entry in key order (for tests and memory figures).</summary>
    public List<byte[]> Entries()
    {
        _lock.EnterReadLock();
        try
        {
            var all = new List<byte[]>(_count);
            foreach (var chunk in _chunks) all.AddRange(chunk.Items.Take(chunk.Count));
            return all;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    // Where the key is, or where it would go: the chunk whose first key is the last at or before it.
    private (int Chunk, int Pos, bool Found) Find(ReadOnlySpan<byte> key)
    {
        if (_chunks.Count == 0) return (0, 0, false);
        int lo = 0, hi = _chunks.Count - 1;
        while (lo < hi)
        {
            var mid = (lo + hi + 1) / 2;
            if (KeyHistory.KeyOf(_chunks[mid].Items[0]).SequenceCompareTo(key) <= 0) lo = mid;
            else hi = mid - 1;
        }
        var chunk = _chunks[lo];
        int a = 0, b = chunk.Count;
        while (a < b)
        {
            var mid = (a + b) / 2;
            var c = KeyHistory.KeyOf(chunk.Items[mid]).SequenceCompareTo(key);
            if (c == 0) return (lo, mid, true);
            if (c < 0) a = mid + 1;
            else b = mid;
        }
        // Past the end of this chunk: the first key of the next one is greater, so position it there.
        if (a == chunk.Count && lo + 1 < _chunks.Count) return (lo + 1, 0, false);
        return (lo, a, false);
    }

    private void Insert(int chunkIndex, int pos, byte[] entry)
    {
        _count++;
        if (_chunks.Count == 0)
        {
            var items = new byte[4][];
            items[0] = entry;
            _chunks.Add(new Chunk(items, 1));
            return;
        }
        // Appending past the last chunk's end lands in the last chunk.
        if (chunkIndex == _chunks.Count) (chunkIndex, pos) = (chunkIndex - 1, _chunks[^1].Count);
        var chunk = _chunks[chunkIndex];
        if (chunk.Count == chunk.Items.Length)
        {
            if (chunk.Count < MaxChunk)
            {
                Array.Resize(ref chunk.Items, Math.Min(MaxChunk, chunk.Count * 2));
            }
            else
            {
                // Split in two halves and insert into the half the position falls in.
                var half = chunk.Count / 2;
                var right = new byte[MaxChunk][];
                Array.Copy(chunk.Items, half, right, 0, chunk.Count - half);
                Array.Clear(chunk.Items, half, chunk.Count - half);
                _chunks.Insert(chunkIndex + 1, new Chunk(right, chunk.Count - half));
                chunk.Count = half;
                if (pos > half)
                {
                    chunk = _chunks[chunkIndex + 1];
                    pos -= half;
                }
            }
        }
        Array.Copy(chunk.Items, pos, chunk.Items, pos + 1, chunk.Count - pos);
        chunk.Items[pos] = entry;
        chunk.Count++;
    }

    private void MergeSmallChunks()
    {
        for (var c = 0; c + 1 < _chunks.Count;)
        {
            var (left, right) = (_chunks[c], _chunks[c + 1]);
            if (left.Count + right.Count <= MaxChunk / 2)
            {
                if (left.Items.Length < left.Count + right.Count) Array.Resize(ref left.Items, MaxChunk);
                Array.Copy(right.Items, 0, left.Items, left.Count, right.Count);
                left.Count += right.Count;
                _chunks.RemoveAt(c + 1);
            }
            else
            {
                c++;
            }
        }
    }
}
