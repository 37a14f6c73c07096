namespace Raft.Kv.Mvcc;

/// <summary>
/// etcd's request semantics over the MVCC store (server/etcdserver/apply.go, applierV3backend):
/// range with sorting and revision filters, put and delete-range with their previous pairs, and
/// txn with its compares, branches and nested txns, all changes at one revision.
/// </summary>
public static class KvApplier
{
    /// <summary>A range (etcd's applierV3backend.Range) through <paramref name="read"/>.</summary>
    /// <returns>A <see cref="RangeResponse"/>, or a <see cref="KvError"/> for an invalid request or a compacted or future revision.</returns>
    public static object Range(IMvccRead read, RangeRequest request)
    {
        if (request.Check() is { } invalid) return invalid;
        var limit = request.Limit;
        // Sorting or filtering reads everything; otherwise one more than the limit tells whether there is more.
        if (request.FiltersOrSorts) limit = 0;
        if (limit > 0 && limit < long.MaxValue) limit++;
        RangeResult result;
        try
        {
            result = read.Range(request.Key, request.RangeEnd, new RangeOptions(limit, request.Revision, request.CountOnly));
        }
        catch (MvccException e)
        {
            return e.Error;
        }
        var kvs = result.Kvs.ToList();
        // A target other than the key sorts even without an order, among the pairs read (etcd does the same).
        if (request.FiltersOrSorts || request.SortTarget != RangeSortTarget.Key) kvs = FilterAndSort(kvs, request);
        var more = false;
        if (request.Limit > 0 && kvs.Count > request.Limit)
        {
            kvs.RemoveRange((int)request.Limit, kvs.Count - (int)request.Limit);
            more = true;
        }
        if (request.KeysOnly)
        {
            for (var i = 0; i < kvs.Count; i++) kvs[i] = kvs[i].WithoutValue();
        }
        // As in etcd, the count is the range's, before any revision filter.
        return new RangeResponse(result.Revision, kvs, more, result.Count);
    }

    /// <summary>A put (etcd's applierV3backend.Put) in <paramref name="txn"/>; the request must be valid.</summary>
    /// <remarks>With ignore_lease the key keeps its lease, with ignore_value its value; the caller has checked that the key and any lease exist.</remarks>
    public static PutResponse Put(MvccWriteTxn txn, PutRequest request)
    {
        KeyValue? prev = null;
        if ((request.PrevKv || request.IgnoreLease || request.IgnoreValue) && txn.Range(request.Key, default).Kvs is [var kv]) prev = kv;
        var lease = request.IgnoreLease ? prev?.Lease ?? 0 : request.Lease;
        var value = request.IgnoreValue ? prev?.Value ?? default : request.Value;
        return new PutResponse(txn.Put(request.Key, value, lease), request.PrevKv ? prev : null);
    }

    /// <summary>
    /// etcd's checkRequestPut: a put naming a lease <paramref name="leaseExists"/> does not know fails
    /// with "requested lease not found", one with ignore_lease or ignore_value on a missing key with "key not found".
    /// </summary>
    public static KvError? CheckPut(IMvccRead read, PutRequest put, Func<long, bool>? leaseExists)
    {
        if ((put.IgnoreLease || put.IgnoreValue) && read.Range(put.Key, default, new RangeOptions(1, 0, true)).Count == 0) return Lease.LeaseErrors.KeyNotFound;
        if (put.Lease != 0 && leaseExists?.Invoke(put.Lease) != true) return Lease.LeaseErrors.NotFound;
        return null;
    }

    /// <summary>A delete-range (etcd's applierV3backend.DeleteRange) in <paramref name="txn"/>; the request must be valid.</summary>
    public static DeleteRangeResponse DeleteRange(MvccWriteTxn txn, DeleteRangeRequest request)
    {
        IReadOnlyList<KeyValue> prev = request.PrevKv ? txn.Range(request.Key, request.RangeEnd).Kvs : [];
        var (deleted, revision) = txn.DeleteRange(request.Key, request.RangeEnd);
        return new DeleteRangeResponse(revision, deleted, deleted > 0 ? prev : []);
    }

    /// <summary>
    /// A txn (etcd's applierV3backend.Txn): the compares are evaluated at the current revision, the
    /// ranges of the chosen branches checked, then the branches run in one write transaction for the
    /// Raft entry at <paramref name="consistentIndex"/> (a read transaction when they only read).
    /// </summary>
    /// <returns>A <see cref="TxnResponse"/>, or a <see cref="KvError"/> (the store unchanged).</returns>
    /// <param name="store">The store.</param>
    /// <param name="consistentIndex">The Raft index of the entry.</param>
    /// <param name="request">The txn.</param>
    /// <param name="leaseExists">Whether a lease exists, for the puts of the chosen branches (null: none does).</param>
    public static object Txn(MvccStore store, ulong consistentIndex, TxnRequest request, Func<long, bool>? leaseExists = null)
    {
        if (request.Check() is { } invalid)
        {
            store.SetConsistentIndex(consistentIndex);
            return invalid;
        }
        var path = new List<bool>();
        object? answered = null;
        using (var read = store.Read())
        {
            ComparePath(read, request, path);
            // As etcd's Txn: every put of the path is checked before any range.
            var (putStep, rangeStep) = (0, 0);
            var deletedBefore = new List<KeyRange>();
            if ((CheckPath(read, request, path, ref putStep, leaseExists, deletedBefore, puts: true) ??
                 CheckPath(read, request, path, ref rangeStep, leaseExists, deletedBefore, puts: false)) is { } error)
                answered = error;
            else if (!IsWrite(request))
            {
                var at = 0;
                answered = Run(read, null, request, path, ref at);
            }
        }
        // Only once the read has ended: the store's batch lock is not taken while a backend view is
        // held (a defragmentation holds the lock and waits for the views to end).
        if (answered is not null)
        {
            store.SetConsistentIndex(consistentIndex);
            return answered;
        }
        using var txn = store.Write(consistentIndex);
        var index = 0;
        var response = Run(txn, txn, request, path, ref index);
        return response with { Revision = txn.Changes.Count > 0 ? txn.Revision + 1 : txn.Revision };
    }

    /// <summary>etcd's applyCompare: whether <paramref name="compare"/> holds for every key of its range.</summary>
    public static bool Holds(IMvccRead read, Compare compare)
    {
        RangeResult result;
        try
        {
            result = read.Range(compare.Key, compare.RangeEnd);
        }
        catch (MvccException)
        {
            return false;
        }
        if (result.Kvs.Count == 0)
        {
            // A missing key has no value to compare: nil equals the empty string in gRPC.
            return compare.Target != CompareTarget.Value && Holds(compare, new KeyValue(compare.Key, 0, 0, 0, default));
        }
        return result.Kvs.All(kv => Holds(compare, kv));
    }

    private static bool Holds(Compare c, KeyValue kv)
    {
        // A union field of another case than the target reads as zero, as in etcd.
        var number = c.UnionCase == c.Target ? c.Number : 0;
        var result = c.Target switch
        {
            CompareTarget.Value => kv.Value.Span.SequenceCompareTo(c.UnionCase == CompareTarget.Value ? c.Value.Span : default),
            CompareTarget.Create => kv.CreateRevision.CompareTo(number),
            CompareTarget.Mod => kv.ModRevision.CompareTo(number),
            CompareTarget.Version => kv.Version.CompareTo(number),
            CompareTarget.Lease => kv.Lease.CompareTo(number),
            _ => 0,
        };
        return c.Result switch
        {
            CompareResult.Equal => result == 0,
            CompareResult.NotEqual => result != 0,
            CompareResult.Greater => result > 0,
            CompareResult.Less => result < 0,
            _ => true,
        };
    }

    // etcd's compareToPath: the branch taken by this txn and, depth first, by each nested txn run.
    private static void ComparePath(IMvccRead read, TxnRequest t, List<bool> path)
    {
        var succeeded = t.Compares.All(c => Holds(read, c));
        path.Add(succeeded);
        foreach (var op in succeeded ? t.Success : t.Failure)
        {
            if (op is TxnRequest nested) ComparePath(read, nested, path);
        }
    }

    // etcd's checkRequests, with checkPut (puts: a missing lease, or a missing key under ignore_lease
    // or ignore_value) or with checkRange (ranges at a compacted or future revision): the first
    // failing request of the path fails the txn.
    //
    // One check more than etcd's: a put with ignore_lease or ignore_value whose key a delete earlier
    // in the path removes finds no key when it runs. etcd checks such a put against the store before
    // the txn, so it passes, and then panics in the middle of the txn ("unexpected error during txn";
    // its duplicate-key check misses the overlap when the delete's range is open-ended). Here the txn
    // is refused with "key not found" before anything is written, on every member alike.
    private static KvError? CheckPath(IMvccRead read, TxnRequest t, List<bool> path, ref int step, Func<long, bool>? leaseExists,
        List<KeyRange> deletedBefore, bool puts)
    {
        foreach (var op in path[step++] ? t.Success : t.Failure)
        {
            switch (op)
            {
                case RangeRequest r when r.Revision > 0 && !puts:
                    try
                    {
                        read.Range(r.Key, r.RangeEnd, new RangeOptions(1, r.Revision, true));
                    }
                    catch (MvccException e)
                    {
                        return e.Error;
                    }
                    break;
                case PutRequest p when puts && (p.Lease != 0 || p.IgnoreLease || p.IgnoreValue):
                    if (CheckPut(read, p, leaseExists) is { } putError) return putError;
                    if ((p.IgnoreLease || p.IgnoreValue) && deletedBefore.Exists(d => d.Contains(p.Key.Span))) return Lease.LeaseErrors.KeyNotFound;
                    break;
                case DeleteRangeRequest d when puts:
                    deletedBefore.Add(new KeyRange(d.Key, d.RangeEnd));
                    break;
                case TxnRequest nested:
                    if (CheckPath(read, nested, path, ref step, leaseExists, deletedBefore, puts) is { } error) return error;
                    break;
            }
        }
        return null;
    }

    /// <summary>Whether a txn writes anything, in either branch at any depth (etcd's isTxnReadonly negated).</summary>
    public static bool IsWrite(TxnRequest t) =>
        t.Success.Concat(t.Failure).Any(op => op is PutRequest or DeleteRangeRequest || (op is TxnRequest n && IsWrite(n)));

    private static TxnResponse Run(IMvccRead read, MvccWriteTxn? write, TxnRequest t, List<bool> path, ref int step)
    {
        var succeeded = path[step++];
        var responses = new List<IKvResponse>();
        foreach (var op in succeeded ? t.Success : t.Failure)
        {
            switch (op)
            {
                case RangeRequest r:
                    responses.Add(Range(read, r) as RangeResponse
                                  ?? throw new InvalidOperationException("a txn range failed after its check (broken invariant)"));
                    break;
                case PutRequest p:
                    responses.Add(Put(write!, p));
                    break;
                case DeleteRangeRequest d:
                    responses.Add(DeleteRange(write!, d));
                    break;
                case TxnRequest nested:
                    // A nested txn's header carries no revision (etcd leaves it empty).
                    responses.Add(Run(read, write, nested, path, ref step) with { Revision = 0 });
                    break;
            }
        }
        return new TxnResponse(read.Revision, succeeded, responses);
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
}
