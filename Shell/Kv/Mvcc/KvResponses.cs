namespace Raft.Kv.Mvcc;

/// <summary>The result of a put.</summary>
/// <param name="Revision">The store revision after the put.</param>
/// <param name="PrevKv">The pair before the put, when asked for and the key existed.</param>
public sealed record PutResponse(long Revision, KeyValue? PrevKv) : IKvResponse;

/// <summary>The result of a delete-range.</summary>
/// <param name="Revision">The store revision after the delete (unchanged when nothing was deleted).</param>
/// <param name="Deleted">How many keys were deleted.</param>
/// <param name="PrevKvs">The deleted pairs in key order, when asked for (else empty).</param>
public sealed record DeleteRangeResponse(long Revision, long Deleted, IReadOnlyList<KeyValue> PrevKvs) : IKvResponse;

/// <summary>The result of a range read.</summary>
/// <param name="Revision">The store revision the read saw.</param>
/// <param name="Kvs">The pairs in key order (at most the limit; none for count-only).</param>
/// <param name="More">Whether the limit left pairs out.</param>
/// <param name="Count">How many keys the range holds.</param>
public sealed record RangeResponse(long Revision, IReadOnlyList<KeyValue> Kvs, bool More, long Count) : IKvResponse;

/// <summary>One of etcd's KV responses (a txn's ResponseOp).</summary>
public interface IKvResponse
{
    /// <summary>The store revision in the response's header.</summary>
    long Revision { get; }
}

/// <summary>The result of a txn.</summary>
/// <param name="Revision">The store revision after the txn.</param>
/// <param name="Succeeded">Whether every compare held (the success branch ran).</param>
/// <param name="Responses">One response per request of the branch that ran.</param>
public sealed record TxnResponse(long Revision, bool Succeeded, IReadOnlyList<IKvResponse> Responses) : IKvResponse;

/// <summary>The result of a compaction.</summary>
/// <param name="Revision">The store revision.</param>
public sealed record CompactionResponse(long Revision);

/// <summary>An active alarm: which member raised what.</summary>
/// <param name="MemberId">The member.</param>
/// <param name="Alarm">The alarm.</param>
public sealed record AlarmMember(ulong MemberId, AlarmType Alarm);

/// <summary>The result of an alarm request: the alarms it touched (Get: the active ones).</summary>
/// <param name="Alarms">The alarms.</param>
public sealed record AlarmResponse(IReadOnlyList<AlarmMember> Alarms);

/// <summary>Why a command could not be executed (as etcd's error text and gRPC status code).</summary>
public enum KvErrorKind
{
    /// <summary>The command's key is empty ("etcdserver: key is not provided", InvalidArgument).</summary>
    EmptyKey,
    /// <summary>The command bytes do not decode as a supported command.</summary>
    MalformedCommand,
    /// <summary>A read named a revision newer than the store's ("etcdserver: mvcc: required revision is a future revision").</summary>
    FutureRevision,
    /// <summary>A read named a revision the store no longer keeps ("etcdserver: mvcc: required revision has been compacted").</summary>
    Compacted,
    /// <summary>A txn with more operations than allowed ("etcdserver: too many operations in txn request").</summary>
    TooManyOps,
    /// <summary>A txn branch writing a key twice ("etcdserver: duplicate key given in txn request").</summary>
    DuplicateKey,
    /// <summary>A write while the NOSPACE alarm is raised ("etcdserver: mvcc: database space exceeded").</summary>
    NoSpace,
    /// <summary>A lease that does not exist ("etcdserver: requested lease not found", NotFound).</summary>
    LeaseNotFound,
    /// <summary>A grant of an id in use ("etcdserver: lease already exists", FailedPrecondition).</summary>
    LeaseExists,
    /// <summary>A grant above the largest TTL ("etcdserver: too large lease TTL", OutOfRange).</summary>
    LeaseTtlTooLarge,
    /// <summary>A keep-alive on a member that is not the leader ("not a primary lessor").</summary>
    LeaseNotPrimary,
    /// <summary>A put with ignore_value or ignore_lease on a missing key ("etcdserver: key not found", InvalidArgument).</summary>
    KeyNotFound,
    /// <summary>A put with both a lease and ignore_lease ("etcdserver: lease is provided", InvalidArgument).</summary>
    LeaseProvided,
    /// <summary>A put with both a value and ignore_value ("etcdserver: value is provided", InvalidArgument).</summary>
    ValueProvided,
}

/// <summary>
/// A command that failed without changing the store. Apply returns it instead of throwing, so a bad
/// entry never stops the apply loop and every member reaches the same state.
/// </summary>
/// <param name="Kind">What went wrong.</param>
/// <param name="Message">etcd's message text for it.</param>
public sealed record KvError(KvErrorKind Kind, string Message)
{
    /// <summary>"etcdserver: key is not provided".</summary>
    public static KvError EmptyKey { get; } = new(KvErrorKind.EmptyKey, "etcdserver: key is not provided");

    /// <summary>"etcdserver: mvcc: required revision is a future revision".</summary>
    public static KvError FutureRevision { get; } = new(KvErrorKind.FutureRevision, "etcdserver: mvcc: required revision is a future revision");

    /// <summary>"etcdserver: mvcc: required revision has been compacted".</summary>
    public static KvError Compacted { get; } = new(KvErrorKind.Compacted, "etcdserver: mvcc: required revision has been compacted");

    /// <summary>"etcdserver: too many operations in txn request".</summary>
    public static KvError TooManyOps { get; } = new(KvErrorKind.TooManyOps, "etcdserver: too many operations in txn request");

    /// <summary>"etcdserver: duplicate key given in txn request".</summary>
    public static KvError DuplicateKey { get; } = new(KvErrorKind.DuplicateKey, "etcdserver: duplicate key given in txn request");

    /// <summary>"etcdserver: mvcc: database space exceeded".</summary>
    public static KvError NoSpace { get; } = new(KvErrorKind.NoSpace, "etcdserver: mvcc: database space exceeded");

    /// <summary>A malformed command, with what was wrong.</summary>
    public static KvError Malformed(string why) => new(KvErrorKind.MalformedCommand, "malformed command: " + why);
}
