namespace Raft.Kv.Mvcc;

/// <summary>etcd's PutRequest (without leases): store <see cref="Value"/> under <see cref="Key"/>.</summary>
/// <param name="Key">The key; must not be empty.</param>
/// <param name="Value">The value (may be empty).</param>
/// <param name="PrevKv">Return the pair as it was before the put.</param>
public sealed record PutRequest(ReadOnlyMemory<byte> Key, ReadOnlyMemory<byte> Value, bool PrevKv = false)
{
    /// <summary>etcd's request check (v3rpc checkPutRequest): the error, or null when the request is valid.</summary>
    public KvError? Check() => Key.IsEmpty ? KvError.EmptyKey : null;
}

/// <summary>etcd's DeleteRangeRequest: delete the keys of a range.</summary>
/// <param name="Key">First key of the range; must not be empty.</param>
/// <param name="RangeEnd">etcd's range end: empty for the single key, "\0" for every key &gt;= key, else exclusive end.</param>
/// <param name="PrevKv">Return the deleted pairs.</param>
public sealed record DeleteRangeRequest(ReadOnlyMemory<byte> Key, ReadOnlyMemory<byte> RangeEnd = default, bool PrevKv = false)
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
    long MaxCreateRevision = 0)
{
    /// <summary>etcd's request check (v3rpc checkRangeRequest): the error, or null when the request is valid.</summary>
    public KvError? Check() => Key.IsEmpty ? KvError.EmptyKey : null;

    /// <summary>Whether the pairs are filtered or sorted, which makes etcd read the whole range before the limit.</summary>
    internal bool FiltersOrSorts =>
        SortOrder != RangeSortOrder.None || MinModRevision != 0 || MaxModRevision != 0 || MinCreateRevision != 0 || MaxCreateRevision != 0;
}
