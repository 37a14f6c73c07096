namespace Raft.Kv.Mvcc;

/// <summary>
/// The key-value store at one revision, immutable: a put or delete returns a new state and leaves this
/// one untouched, so readers can keep using the state they hold while the apply loop moves on.
/// Revisions count as etcd's MVCC store counts them: the store starts at revision 1, and every put and
/// every delete-range that deletes something advances it by one.
/// </summary>
public sealed class KvState
{
    private readonly KeyTree _keys;

    private KvState(long revision, KeyTree keys, long dataSize)
    {
        Revision = revision;
        _keys = keys;
        DataSize = dataSize;
    }

    /// <summary>The empty store at revision 1.</summary>
    public static KvState Initial { get; } = new(1, KeyTree.Empty, 0);

    /// <summary>The current store revision.</summary>
    public long Revision { get; }

    /// <summary>How many keys the store holds.</summary>
    public int KeyCount => _keys.Count;

    /// <summary>Total bytes of keys and values held.</summary>
    public long DataSize { get; }

    internal KeyTree Keys => _keys;

    /// <summary>The pair stored under <paramref name="key"/>, or null.</summary>
    public KeyValue? Get(ReadOnlySpan<byte> key) => _keys.Get(key);

    /// <summary>
    /// Stores a value (etcd's storeTxnWrite.put): the key keeps its create revision and gains a version
    /// if it exists, else it is created at the new revision with version 1. The request's memory is
    /// kept, not copied.
    /// </summary>
    /// <exception cref="ArgumentException">The key is empty (check requests with <see cref="PutRequest.Check"/>).</exception>
    public (KvState State, PutResponse Response) Put(PutRequest request)
    {
        if (request.Key.IsEmpty) throw new ArgumentException("put with an empty key; PutRequest.Check rejects it", nameof(request));
        var rev = Revision + 1;
        var keys = _keys.Upsert(request.Key.Span, (request, rev), static (prev, s) => prev is null
            ? new KeyValue(s.request.Key, s.rev, s.rev, 1, s.request.Value)
            : new KeyValue(prev.Key, prev.CreateRevision, s.rev, prev.Version + 1, s.request.Value), out var prev);
        var size = DataSize + request.Value.Length - (prev is null ? -request.Key.Length : prev.Value.Length);
        return (new KvState(rev, keys, size), new PutResponse(rev, request.PrevKv ? prev : null));
    }

    /// <summary>
    /// Deletes the keys of a range (etcd's storeTxnWrite.deleteRange). The revision advances only when
    /// something was deleted; a later put of a deleted key starts again at version 1.
    /// </summary>
    /// <exception cref="ArgumentException">The key is empty (check requests with <see cref="DeleteRangeRequest.Check"/>).</exception>
    public (KvState State, DeleteRangeResponse Response) DeleteRange(DeleteRangeRequest request)
    {
        if (request.Key.IsEmpty) throw new ArgumentException("delete-range with an empty key; DeleteRangeRequest.Check rejects it", nameof(request));
        var victims = new KeyRange(request.Key, request.RangeEnd).Collect(_keys, 0);
        if (victims.Count == 0) return (this, new DeleteRangeResponse(Revision, 0, []));
        var keys = _keys;
        var size = DataSize;
        foreach (var kv in victims)
        {
            keys = keys.Remove(kv.Key.Span);
            size -= kv.Key.Length + kv.Value.Length;
        }
        var rev = Revision + 1;
        return (new KvState(rev, keys, size), new DeleteRangeResponse(rev, victims.Count, request.PrevKv ? victims : []));
    }

    /// <summary>
    /// Reads a range (etcd's applierV3backend.Range over the current revision): pairs in key order up to
    /// the limit, <c>more</c> when the limit left some out, and the count of the whole range.
    /// </summary>
    /// <returns>A <see cref="RangeResponse"/>, or a <see cref="KvError"/> for an empty key or a revision other than the current one.</returns>
    public object Range(RangeRequest request)
    {
        if (request.Check() is { } invalid) return invalid;
        if (request.Revision > Revision) return KvError.FutureRevision;
        // Only the current revision is kept: older ones read as compacted, as etcd answers below its compaction point.
        if (request.Revision > 0 && request.Revision < Revision) return KvError.Compacted;

        var range = new KeyRange(request.Key, request.RangeEnd);
        var count = range.CountIn(_keys);
        if (request.CountOnly) return new RangeResponse(Revision, [], false, count);

        var limit = request.Limit > 0 && request.Limit < int.MaxValue ? (int)request.Limit : 0;
        // etcd reads one more than the limit to learn whether there is more; with filters or sorting it reads everything.
        var kvs = range.Collect(_keys, request.FiltersOrSorts || limit == 0 ? 0 : limit + 1);
        // A target other than the key sorts even without an order, among the pairs read (etcd does the same).
        if (request.FiltersOrSorts || request.SortTarget != RangeSortTarget.Key) kvs = FilterAndSort(kvs, request);
        var more = false;
        if (limit > 0 && kvs.Count > limit)
        {
            kvs.RemoveRange(limit, kvs.Count - limit);
            more = true;
        }
        if (request.KeysOnly)
        {
            for (var i = 0; i < kvs.Count; i++) kvs[i] = kvs[i].WithoutValue();
        }
        // As in etcd, the count is the range's, before any revision filter.
        return new RangeResponse(Revision, kvs, more, count);
    }

    // etcd's applierV3backend.Range: prune by mod/create revision bounds, then sort (a target other than
    // the key sorts ascending unless told otherwise). Sorting here is stable, so ties stay in key order.
    private static List<KeyValue> FilterAndSort(List<KeyValue> kvs, RangeRequest r)
    {
        kvs.RemoveAll(kv =>
            (r.MaxModRevision != 0 && kv.ModRevision > r.MaxModRevision)
            || (r.MinModRevision != 0 && kv.ModRevision < r.MinModRevision)
            || (r.MaxCreateRevision != 0 && kv.CreateRevision > r.MaxCreateRevision)
            || (r.MinCreateRevision != 0 && kv.CreateRevision < r.MinCreateRevision));
        var order = r.SortOrder;
        if (r.SortTarget != RangeSortTarget.Key && order == RangeSortOrder.None) order = RangeSortOrder.Ascend;
        if (order is not (RangeSortOrder.Ascend or RangeSortOrder.Descend)) return kvs;
        Comparison<KeyValue> compare = r.SortTarget switch
        {
            RangeSortTarget.Version => (a, b) => a.Version.CompareTo(b.Version),
            RangeSortTarget.Create => (a, b) => a.CreateRevision.CompareTo(b.CreateRevision),
            RangeSortTarget.Mod => (a, b) => a.ModRevision.CompareTo(b.ModRevision),
            RangeSortTarget.Value => (a, b) => a.Value.Span.SequenceCompareTo(b.Value.Span),
            _ => (a, b) => a.Key.Span.SequenceCompareTo(b.Key.Span),
        };
        var sorted = order == RangeSortOrder.Ascend
            ? kvs.Order(Comparer<KeyValue>.Create(compare))
            : kvs.Order(Comparer<KeyValue>.Create((a, b) => compare(b, a)));
        return sorted.ToList();
    }

    /// <summary>Every pair in key order (for snapshots).</summary>
    public IEnumerable<KeyValue> All() => Pairs();

    internal List<KeyValue> Pairs()
    {
        var all = new List<KeyValue>(_keys.Count);
        _keys.Visit(ReadOnlySpan<byte>.Empty, ReadOnlySpan<byte>.Empty, true, kv =>
        {
            all.Add(kv);
            return true;
        });
        return all;
    }

    /// <summary>
    /// Builds a state from pairs in strictly increasing key order (a restored snapshot).
    /// </summary>
    /// <exception cref="InvalidDataException">The pairs are out of order, duplicated, or newer than <paramref name="revision"/>.</exception>
    public static KvState FromSorted(long revision, IEnumerable<KeyValue> pairs)
    {
        if (revision < 1) throw new InvalidDataException($"store revision {revision} is below 1");
        var sorted = new List<KeyValue>();
        long size = 0;
        KeyValue? last = null;
        foreach (var kv in pairs)
        {
            if (kv.Key.IsEmpty) throw new InvalidDataException("snapshot holds an empty key");
            if (last is not null && last.Key.Span.SequenceCompareTo(kv.Key.Span) >= 0)
                throw new InvalidDataException("snapshot keys are not in strictly increasing order");
            if (kv.ModRevision > revision || kv.CreateRevision > kv.ModRevision || kv.CreateRevision < 2 || kv.Version < 1)
                throw new InvalidDataException($"snapshot pair {kv} has counters inconsistent with store revision {revision}");
            sorted.Add(kv);
            size += kv.Key.Length + kv.Value.Length;
            last = kv;
        }
        return new KvState(revision, KeyTree.FromSorted(sorted), size);
    }
}
