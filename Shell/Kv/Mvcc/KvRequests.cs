namespace Raft.Kv.Mvcc;

/// <summary>One of etcd's KV requests: <see cref="RangeRequest"/>, <see cref="PutRequest"/>, <see cref="DeleteRangeRequest"/> or <see cref="TxnRequest"/> (a txn's RequestOp).</summary>
public interface IKvRequest
{
}

/// <summary>etcd's PutRequest: store <see cref="Value"/> under <see cref="Key"/>.</summary>
/// <param name="Key">The key; must not be empty.</param>
/// <param name="Value">The value (may be empty).</param>
/// <param name="PrevKv">Return the pair as it was before the put.</param>
/// <param name="Lease">The lease to attach the key to (0: none); it must exist when the put is applied.</param>
/// <param name="IgnoreLease">Keep the key's current lease (the key must exist; <paramref name="Lease"/> must be 0).</param>
/// <param name="IgnoreValue">Keep the key's current value (the key must exist; <paramref name="Value"/> must be empty).</param>
public sealed record PutRequest(ReadOnlyMemory<byte> Key, ReadOnlyMemory<byte> Value, bool PrevKv = false, long Lease = 0, bool IgnoreLease = false, bool IgnoreValue = false) : IKvRequest
{
    /// <summary>etcd's request check (v3rpc checkPutRequest): the error, or null when the request is valid.</summary>
    public KvError? Check() =>
        Key.IsEmpty ? KvError.EmptyKey
        : IgnoreValue && !Value.IsEmpty ? new KvError(KvErrorKind.ValueProvided, "etcdserver: value is provided")
        : IgnoreLease && Lease != 0 ? new KvError(KvErrorKind.LeaseProvided, "etcdserver: lease is provided")
        : null;
}

/// <summary>etcd's DeleteRangeRequest: delete the keys of a range.</summary>
/// <param name="Key">First key of the range; must not be empty.</param>
/// <param name="RangeEnd">etcd's range end: empty for the single key, "\0" for every key &gt;= key, else exclusive end.</param>
/// <param name="PrevKv">Return the deleted pairs.</param>
public sealed record DeleteRangeRequest(ReadOnlyMemory<byte> Key, ReadOnlyMemory<byte> RangeEnd = default, bool PrevKv = false) : IKvRequest
{
    /// <summary>etcd's request check (v3rpc checkDeleteRequest): the error, or null when the request is valid.</summary>
    public KvError? Check() => Key.IsEmpty ? KvError.EmptyKey : null;
}

/// <summary>etcd's RangeRequest.SortOrder.</summary>
public enum RangeSortOrder
{
    /// <summary>No sorting (key order, unless the target is not the key).</summary>
    None = 0,
    /// <summary>Lowest target value first.</summary>
    Ascend = 1,
    /// <summary>Highest target value first.</summary>
    Descend = 2,
}

/// <summary>etcd's RangeRequest.SortTarget.</summary>
public enum RangeSortTarget
{
    /// <summary>The key.</summary>
    Key = 0,
    /// <summary>The version.</summary>
    Version = 1,
    /// <summary>The create revision.</summary>
    Create = 2,
    /// <summary>The mod revision.</summary>
    Mod = 3,
    /// <summary>The value.</summary>
    Value = 4,
}

/// <summary>etcd's RangeRequest: read the keys of a range.</summary>
/// <param name="Key">First key of the range; must not be empty.</param>
/// <param name="RangeEnd">etcd's range end: empty for the single key, "\0" for every key &gt;= key, else exclusive end.</param>
/// <param name="Limit">Most pairs to return (0 or less: no limit); <c>more</c> says whether some were left out.</param>
/// <param name="Revision">Read at this revision; 0 for the current one (only the current revision is kept).</param>
/// <param name="CountOnly">Return only the count.</param>
/// <param name="KeysOnly">Return pairs without values.</param>
/// <param name="Serializable">Serve from local state without a linearizable read barrier (the HTTP layer's concern).</param>
/// <param name="SortOrder">Sort the pairs (before the limit applies).</param>
/// <param name="SortTarget">What to sort by.</param>
/// <param name="MinModRevision">Leave out pairs modified before this revision (0: no bound).</param>
/// <param name="MaxModRevision">Leave out pairs modified after this revision (0: no bound).</param>
/// <param name="MinCreateRevision">Leave out pairs created before this revision (0: no bound).</param>
/// <param name="MaxCreateRevision">Leave out pairs created after this revision (0: no bound).</param>
public sealed record RangeRequest(
    ReadOnlyMemory<byte> Key,
    ReadOnlyMemory<byte> RangeEnd = default,
    long Limit = 0,
    long Revision = 0,
    bool CountOnly = false,
    bool KeysOnly = false,
    bool Serializable = false,
    RangeSortOrder SortOrder = RangeSortOrder.None,
    RangeSortTarget SortTarget = RangeSortTarget.Key,
    long MinModRevision = 0,
    long MaxModRevision = 0,
    long MinCreateRevision = 0,
    long MaxCreateRevision = 0) : IKvRequest
{
    /// <summary>etcd's request check (v3rpc checkRangeRequest): the error, or null when the request is valid.</summary>
    public KvError? Check() => Key.IsEmpty ? KvError.EmptyKey : null;

    /// <summary>Whether the pairs are filtered or sorted, which makes etcd read the whole range before the limit.</summary>
    internal bool FiltersOrSorts =>
        SortOrder != RangeSortOrder.None || MinModRevision != 0 || MaxModRevision != 0 || MinCreateRevision != 0 || MaxCreateRevision != 0;
}

/// <summary>etcd's Compare.CompareResult: how the key's target compares with the given one.</summary>
public enum CompareResult
{
    /// <summary>Equal.</summary>
    Equal = 0,
    /// <summary>The key's is greater.</summary>
    Greater = 1,
    /// <summary>The key's is less.</summary>
    Less = 2,
    /// <summary>Not equal.</summary>
    NotEqual = 3,
}

/// <summary>etcd's Compare.CompareTarget: what of the key is compared.</summary>
public enum CompareTarget
{
    /// <summary>The version.</summary>
    Version = 0,
    /// <summary>The create revision.</summary>
    Create = 1,
    /// <summary>The mod revision.</summary>
    Mod = 2,
    /// <summary>The value.</summary>
    Value = 3,
    /// <summary>The lease.</summary>
    Lease = 4,
}

/// <summary>etcd's Compare: a condition of a txn on every key of a range.</summary>
/// <param name="Result">The comparison.</param>
/// <param name="Target">What is compared.</param>
/// <param name="Key">The key (or first key of the range).</param>
/// <param name="RangeEnd">etcd's range end (empty: the key alone).</param>
/// <param name="UnionCase">Which of the target_union fields was set (null: none), as etcd reads a field of another case as zero.</param>
/// <param name="Number">The version, create or mod revision or lease compared with.</param>
/// <param name="Value">The value compared with.</param>
public sealed record Compare(
    CompareResult Result,
    CompareTarget Target,
    ReadOnlyMemory<byte> Key,
    ReadOnlyMemory<byte> RangeEnd = default,
    CompareTarget? UnionCase = null,
    long Number = 0,
    ReadOnlyMemory<byte> Value = default);

/// <summary>etcd's TxnRequest: if every compare holds, the success requests run, else the failure ones, all at one revision.</summary>
/// <param name="Compares">The conditions.</param>
/// <param name="Success">The requests run when they all hold.</param>
/// <param name="Failure">The requests run otherwise.</param>
public sealed record TxnRequest(IReadOnlyList<Compare> Compares, IReadOnlyList<IKvRequest> Success, IReadOnlyList<IKvRequest> Failure) : IKvRequest
{
    /// <summary>
    /// etcd's checks of a txn (v3rpc checkTxnRequest with the default --max-txn-ops of 128, and
    /// checkIntervals): each request valid, no more than <paramref name="maxOps"/> per branch, and no
    /// key written twice in one branch path. The error, or null when valid.
    /// </summary>
    public KvError? Check(int maxOps = 128) =>
        CheckRequests(maxOps) ?? (CheckIntervals(Success) is null || CheckIntervals(Failure) is null ? KvError.DuplicateKey : null);

    // etcd's checkTxnRequest: every request of the whole tree is checked before any duplicate write
    // is looked for, and a nested txn may have only the operations its parent leaves (maxOps less the
    // parent's largest list).
    private KvError? CheckRequests(int maxOps)
    {
        var ops = Math.Max(Compares.Count, Math.Max(Success.Count, Failure.Count));
        if (ops > maxOps) return KvError.TooManyOps;
        foreach (var c in Compares)
        {
            if (c.Key.IsEmpty) return KvError.EmptyKey;
        }
        foreach (var op in Success.Concat(Failure))
        {
            var invalid = op switch
            {
                RangeRequest r => r.Check(),
                PutRequest p => p.Check(),
                DeleteRangeRequest d => d.Check(),
                TxnRequest t => t.CheckRequests(maxOps - ops),
                _ => null,
            };
            if (invalid is not null) return invalid;
        }
        return null;
    }

    /// <summary>The puts and deletes of one branch, as etcd's checkIntervals collects them.</summary>
    private sealed record Writes(HashSet<string> Puts, List<(byte[] Begin, byte[] End)> Deletes)
    {
        // etcd's interval tree: a point [k, k\0) meets [begin, end) when begin <= k < end. A delete's
        // range_end that is not above its key (the from-key "\0" among them) makes an interval that
        // meets no key, as in etcd's tree.
        public bool Deleted(byte[] key) =>
            Deletes.Any(d => d.End.Length == 0
                ? key.AsSpan().SequenceEqual(d.Begin)
                : d.Begin.AsSpan().SequenceCompareTo(key) <= 0 && key.AsSpan().SequenceCompareTo(d.End) < 0);
    }

    // etcd's checkIntervals (v3rpc/key.go), step by step: this branch's deletes first; then each
    // nested txn's two branches, whose puts may not meet a put of an earlier nested txn (the same key
    // put by both branches of one nested txn is fine, only one runs) nor a delete collected so far;
    // then this branch's own puts against all of those. Null when a key is written twice.
    private static Writes? CheckIntervals(IReadOnlyList<IKvRequest> ops)
    {
        var writes = new Writes([], []);
        foreach (var op in ops)
            if (op is DeleteRangeRequest d)
                writes.Deletes.Add((d.Key.ToArray(), d.RangeEnd.ToArray()));
        foreach (var op in ops)
        {
            if (op is not TxnRequest t)
                continue;
            if (CheckIntervals(t.Success) is not { } then || CheckIntervals(t.Failure) is not { } otherwise)
                return null;
            foreach (var k in then.Puts)
                if (!writes.Puts.Add(k) || writes.Deleted(Convert.FromHexString(k)))
                    return null;
            foreach (var k in otherwise.Puts)
                if ((writes.Puts.Contains(k) && !then.Puts.Contains(k)) || writes.Deleted(Convert.FromHexString(k)))
                    return null;
                else
                    writes.Puts.Add(k);
            writes.Deletes.AddRange(then.Deletes);
            writes.Deletes.AddRange(otherwise.Deletes);
        }
        foreach (var op in ops)
            if (op is PutRequest p && (!writes.Puts.Add(Convert.ToHexString(p.Key.Span)) || writes.Deleted(p.Key.ToArray())))
                return null;
        return writes;
    }
}

/// <summary>etcd's CompactionRequest: compact the history at a revision.</summary>
/// <param name="Revision">The revision.</param>
/// <param name="Physical">Answer only once the history is gone (here it always is when the command is applied).</param>
public sealed record CompactionRequest(long Revision, bool Physical = false);

/// <summary>etcd's AlarmRequest.AlarmAction.</summary>
public enum AlarmAction
{
    /// <summary>List the active alarms.</summary>
    Get = 0,
    /// <summary>Raise an alarm.</summary>
    Activate = 1,
    /// <summary>Clear an alarm.</summary>
    Deactivate = 2,
}

/// <summary>etcd's AlarmType.</summary>
public enum AlarmType
{
    /// <summary>No alarm (in a GET: every alarm).</summary>
    None = 0,
    /// <summary>The backend is over its quota: writes are refused until the alarm is cleared.</summary>
    NoSpace = 1,
    /// <summary>The store was found corrupt.</summary>
    Corrupt = 2,
}

/// <summary>etcd's AlarmRequest, applied through Raft so every member holds the same alarms.</summary>
/// <param name="Action">Get, activate or deactivate.</param>
/// <param name="MemberId">The member the alarm is about (0 with Get: every member).</param>
/// <param name="Alarm">The alarm.</param>
public sealed record AlarmRequest(AlarmAction Action, ulong MemberId, AlarmType Alarm);
