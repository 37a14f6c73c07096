namespace Raft.Kv.Backend;

/// <summary>The named key spaces of the backend (etcd's buckets).</summary>
public enum KvBucket : byte { Key = 1, Meta = 2, Lease = 3, Alarm = 4, Auth = 5, Members = 6 }

/// <summary>
/// An embedded, crash-safe, ordered key-value database that holds the MVCC history and the applied
/// index (etcd's backend). Keys within a bucket are ordered bytewise (unsigned lexicographic).
/// </summary>
public interface IKvBackend : IDisposable
{
    /// <summary>A read view of the last committed state, consistent for its whole lifetime.</summary>
    IKvBackendReader OpenReader();

    /// <summary>A write batch. Nothing is visible to readers or durable before <see cref="IKvBackendBatch.Commit"/>.</summary>
    IKvBackendBatch BeginBatch();

    /// <summary>Bytes the database takes on disk now.</summary>
    long SizeBytes { get; }

    /// <summary>
    /// Gives back the process's memory that holds pages of the database read so far and not needed
    /// again soon (after a walk of the whole database); a backend without such pages does nothing.
    /// </summary>
    void ReleaseReadPages()
    {
    }

    /// <summary>
    /// Bytes of <see cref="SizeBytes"/> that hold data (etcd's db_size_in_use); the rest is free
    /// space left by deletions and compactions, which <see cref="Defragment"/> gives back.
    /// </summary>
    long SizeInUseBytes { get; }

    /// <summary>
    /// Rewrites the database without its free space (etcd's defrag), so that <see cref="SizeBytes"/>
    /// drops to about <see cref="SizeInUseBytes"/>. Writes wait meanwhile; the caller has no batch
    /// in the middle of a commit. Throws <see cref="TimeoutException"/> when readers stay open too long.
    /// </summary>
    void Defragment();

    /// <summary>
    /// Writes a consistent copy of the committed state to <paramref name="destination"/> while
    /// writes go on; <see cref="KvBackends"/>'s restore turns such a stream back into a database.
    /// </summary>
    Task WriteCheckpointAsync(Stream destination, CancellationToken cancellationToken);
}

public interface IKvBackendReader : IDisposable
{
    /// <summary>The value under <paramref name="key"/>, or null.</summary>
    byte[]? Get(KvBucket bucket, ReadOnlySpan<byte> key);

    /// <summary>
    /// The pairs with from &lt;= key &lt; to in key order; an empty <paramref name="to"/> means to the end
    /// of the bucket. At most <paramref name="limit"/> pairs when limit &gt; 0.
    /// </summary>
    IEnumerable<KeyValuePair<byte[], byte[]>> Scan(KvBucket bucket, ReadOnlyMemory<byte> from, ReadOnlyMemory<byte> to, int limit = 0);

    /// <summary>
    /// Calls <paramref name="visit"/> with every pair of the bucket in key order, until it returns
    /// false. The spans are valid only during the call (a backend may hand out its own pages, so a
    /// full scan copies nothing); the visitor must not use this reader.
    /// </summary>
    void Visit(KvBucket bucket, KvPairVisitor visit)
    {
        foreach (var (key, value) in Scan(bucket, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty))
            if (!visit(key, value)) return;
    }
}

/// <summary>Receives one pair of <see cref="IKvBackendReader.Visit"/>; returns false to stop.</summary>
public delegate bool KvPairVisitor(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value);

public interface IKvBackendBatch : IDisposable
{
    void Put(KvBucket bucket, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value);

    /// <summary>
    /// <see cref="Put"/> of arrays the batch may keep instead of copying: the caller hands them over
    /// and never changes them afterwards (the store's fresh revision key and encoded pair of each write).
    /// </summary>
    void PutOwned(KvBucket bucket, byte[] key, byte[] value) => Put(bucket, key, value);

    void Delete(KvBucket bucket, ReadOnlySpan<byte> key);
    /// <summary>Makes every change of the batch visible and durable at once (fsync before it returns).</summary>
    void Commit();
}
