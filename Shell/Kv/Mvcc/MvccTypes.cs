namespace Raft.Kv.Mvcc;

/// <summary>Options of an <see cref="MvccStore"/>.</summary>
public sealed class MvccStoreOptions
{
    /// <summary>
    /// Longest time changes wait in the open write batch before it commits (etcd's backend batch
    /// interval, 100 ms). The Raft log is the source of truth: after a crash the node replays the log
    /// from <see cref="MvccStore.ConsistentIndex"/>, so a lazy commit loses nothing.
    /// </summary>
    public TimeSpan BatchInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Most changes the open write batch holds before it commits (etcd's batch limit, 10,000).</summary>
    public int BatchLimit { get; set; } = 10_000;
}

/// <summary>What a range reads (etcd's mvcc.RangeOptions).</summary>
/// <param name="Limit">Most pairs to return (0 or less: all).</param>
/// <param name="Revision">The revision to read at (0 or less: the current one).</param>
/// <param name="Count">Return only the count, no pairs.</param>
public readonly record struct RangeOptions(long Limit = 0, long Revision = 0, bool Count = false);

/// <summary>What a range read (etcd's mvcc.RangeResult).</summary>
/// <param name="Kvs">The pairs in key order, at most the limit.</param>
/// <param name="Count">How many keys of the range were alive at the revision read, whatever the limit.</param>
/// <param name="Revision">The store's current revision when it read (not the revision read at).</param>
public sealed record RangeResult(IReadOnlyList<KeyValue> Kvs, long Count, long Revision);

/// <summary>What a change did to a key.</summary>
public enum MvccEventType
{
    /// <summary>A put: the pair is the key's new state.</summary>
    Put,
    /// <summary>A delete: the pair holds the key, and the revision of the delete as its mod revision.</summary>
    Delete,
}

/// <summary>One change of a write transaction, as a watcher sees it (etcd's mvccpb.Event).</summary>
/// <param name="Type">Put or delete.</param>
/// <param name="Kv">The key's new state (for a delete: the key and the delete's revision).</param>
public sealed record MvccEvent(MvccEventType Type, KeyValue Kv);

/// <summary>The changes one write transaction made, all at one main revision.</summary>
/// <param name="Revision">The main revision they share.</param>
/// <param name="Events">The changes in sub-revision order.</param>
public sealed record MvccChanges(long Revision, IReadOnlyList<MvccEvent> Events);

/// <summary>A read of the store at one revision: a read transaction, or the reads inside a write transaction.</summary>
public interface IMvccRead
{
    /// <summary>The revision the transaction started at.</summary>
    long Revision { get; }

    /// <summary>
    /// The pairs of a range (etcd's conventions for <paramref name="end"/>: empty for the single key,
    /// one zero byte for every key &gt;= key) as of <see cref="RangeOptions.Revision"/>.
    /// </summary>
    /// <exception cref="MvccException">The revision is compacted or in the future.</exception>
    RangeResult Range(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> end, RangeOptions options = default);
}

/// <summary>A request the store refuses: a revision that is compacted or in the future (etcd's ErrCompacted, ErrFutureRev).</summary>
public sealed class MvccException : Exception
{
    /// <summary>Creates the exception for <paramref name="error"/>.</summary>
    public MvccException(KvError error) : base(error.Message) => Error = error;

    /// <summary>The store error, with etcd's message.</summary>
    public KvError Error { get; }
}
