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

/// <summary>etcd's RangeRequest (the parts this store serves): read the keys of a range.</summary>
/// <param name="Key">First key of the range; must not be empty.</param>
/// <param name="RangeEnd">etcd's range end: empty for the single key, "\0" for every key &gt;= key, else exclusive end.</param>
/// <param name="Limit">Most pairs to return (0 or less: no limit); <c>more</c> says whether some were left out.</param>
/// <param name="Revision">Read at this revision; 0 for the current one (only the current revision is kept).</param>
/// <param name="CountOnly">Return only the count.</param>
/// <param name="KeysOnly">Return pairs without values.</param>
/// <param name="Serializable">Serve from local state without a linearizable read barrier (the HTTP layer's concern).</param>
public sealed record RangeRequest(
    ReadOnlyMemory<byte> Key,
    ReadOnlyMemory<byte> RangeEnd = default,
    long Limit = 0,
    long Revision = 0,
    bool CountOnly = false,
    bool KeysOnly = false,
    bool Serializable = false)
{
    /// <summary>etcd's request check (v3rpc checkRangeRequest): the error, or null when the request is valid.</summary>
    public KvError? Check() => Key.IsEmpty ? KvError.EmptyKey : null;
}
