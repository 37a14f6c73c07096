using System.Buffers.Binary;
using System.Collections.Concurrent;
using Google.Protobuf;
using Raft.Kv.Backend;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Mvcc;

/// <summary>
/// etcd's multi-version key-value store (server/mvcc) over an <see cref="IKvBackend"/>: every write
/// transaction gets the next main revision and each of its changes a sub-revision; the backend's Key
/// bucket maps each revision (etcd's 17-byte key, 18 with the tombstone mark) to the pair as it was
/// then (an mvccpb.KeyValue), and an in-memory index maps each key to its generations of revisions.
/// Reads at any revision not compacted away; compaction drops the history below a revision.
/// </summary>
/// <remarks>
/// <para>Threads: one writer (the apply loop) runs write transactions, compactions and restores;
/// any number of threads read. A write transaction must end on the thread that began it.</para>
/// <para>Durability: changes go into one open backend batch that commits every
/// <see cref="MvccStoreOptions.BatchInterval"/> or <see cref="MvccStoreOptions.BatchLimit"/> changes,
/// with the applied index (<see cref="ConsistentIndex"/>, Meta bucket) in the same batch. Until it
/// commits, readers find the changes in a buffer of uncommitted pairs (etcd's read buffer).</para>
/// </remarks>
public sealed partial class MvccStore : IDisposable
{
    internal static readonly byte[] ConsistentIndexKey = "consistent_index"u8.ToArray();
    internal static readonly byte[] ScheduledCompactKey = "scheduledCompactRev"u8.ToArray();
    internal static readonly byte[] FinishedCompactKey = "finishedCompactRev"u8.ToArray();

    private readonly IKvBackend _backend;
    private readonly MvccStoreOptions _options;
    private readonly TreeIndex _index = new();
    // Held by a write transaction from begin to end, and by commits: a commit never splits a transaction.
    private readonly object _batchLock = new();
    // Held while a batch commits; taken after _batchLock when both are held. The periodic commit
    // swaps the full batch for a new one under _batchLock and commits it under this lock only, so
    // that writes go on during the backend's fsyncs; any other commit waits for it first.
    private readonly object _commitLock = new();
    // Readers hold it shared while they look revisions up; compaction takes it to change the index.
    private readonly ReaderWriterLockSlim _compactLock = new(LockRecursionPolicy.NoRecursion);
    private readonly ITimer? _timer;
    private IKvBackendBatch _batch;
    private PendingPairs _pending = PendingPairs.Empty();
    // Key changes in the open batch (the batch limit counts these), and whether it holds anything at all.
    private int _pendingChanges;
    private bool _dirty;
    private long _currentRevision = 1;
    private long _compactRevision;

    // Whether any compaction happened: etcd starts at compaction revision -1, so a first compaction
    // at revision 0 is accepted (and a second refused), which 0 alone cannot tell apart.
    private bool _compacted;
    private ulong _consistentIndex;
    private ulong _committedConsistentIndex;
    private long _keyCount;
    // Set by Load, taken by TakeLoadedLeases.
    private Dictionary<string, long>? _loadedLeases;
    private bool _disposed;

    /// <summary>
    /// Opens the store on <paramref name="backend"/>, rebuilding the index from the history it holds
    /// (an empty backend gives an empty store at revision 1). The store owns the backend from now on.
    /// </summary>
    public MvccStore(IKvBackend backend, MvccStoreOptions? options = null, TimeProvider? time = null)
    {
        _backend = backend;
        _options = options ?? new MvccStoreOptions();
        if (_options.BatchLimit < 1) throw new ArgumentOutOfRangeException(nameof(options), "BatchLimit must be at least 1");
        _batch = backend.BeginBatch();
        var scheduled = Load();
        // A compaction recorded but not finished before a crash: finish it (etcd resumes it too).
        if (scheduled > _compactRevision) Compact(scheduled);
        if (_options.BatchInterval > TimeSpan.Zero)
            _timer = (time ?? TimeProvider.System).CreateTimer(_ => CommitIfPending(), null, _options.BatchInterval, _options.BatchInterval);
    }

    /// <summary>The revision of the last write transaction that changed something (1 for an empty store).</summary>
    public long CurrentRevision => Volatile.Read(ref _currentRevision);

    /// <summary>The revision of the last compaction (0 before any): reads below it fail.</summary>
    public long CompactRevision => Volatile.Read(ref _compactRevision);

    /// <summary>
    /// The Raft index of the last entry applied to the store (etcd's consistent index). It is written
    /// in the same batch as that entry's changes, so what a backend holds after a crash is exactly the
    /// entries up to the index it holds: the node replays the log after it.
    /// </summary>
    public ulong ConsistentIndex => Volatile.Read(ref _consistentIndex);

    /// <summary>The consistent index of the last committed batch (what a crash now would keep).</summary>
    public ulong CommittedConsistentIndex => Volatile.Read(ref _committedConsistentIndex);

    /// <summary>How many keys are alive at the current revision.</summary>
    public long KeyCount => Interlocked.Read(ref _keyCount);

    /// <summary>How many keys the index holds a history for (alive, or deleted and not compacted away).</summary>
    public int IndexedKeys => _index.Count;

    /// <summary>Bytes the backend takes (etcd's db size).</summary>
    public long SizeBytes => _backend.SizeBytes;

    /// <summary>Bytes of <see cref="SizeBytes"/> in use (etcd's db size in use).</summary>
    public long SizeInUseBytes => _backend.SizeInUseBytes;

    /// <summary>
    /// Commits the open batch and opens a backend view of it (etcd's backend Snapshot): every entry
    /// applied up to <see cref="ConsistentIndex"/> now, whatever is applied while the view is read.
    /// </summary>
    public IKvBackendReader OpenCommittedView()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_batchLock)
        {
            CommitLocked();
            return _backend.OpenReader();
        }
    }

    /// <summary>
    /// etcd's defrag: commits the open batch and has the backend rewrite itself without free space
    /// (<see cref="IKvBackend.Defragment"/>). Applies wait for it, as etcd's do.
    /// </summary>
    public void Defragment()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_batchLock)
        {
            CommitLocked();
            _backend.Defragment();
        }
    }

    /// <summary>Raised on the writer's thread after each write transaction that changed something (for watchers).</summary>
    public event Action<MvccChanges>? Changed;

    /// <summary>A read transaction at the current revision; dispose it when done.</summary>
    public MvccReadTxn Read()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // The revision, then the buffer, then the backend view. Every pair at or below the revision was
        // buffered before the revision was published; if the buffer taken is a newer one, the commit
        // that replaced the older happened before, so the backend view opened after holds those pairs.
        var revision = CurrentRevision;
        var pending = Volatile.Read(ref _pending);
        return new MvccReadTxn(this, revision, pending, _backend.OpenReader());
    }

    /// <summary>
    /// Begins a write transaction for the Raft entry at <paramref name="consistentIndex"/>: its changes
    /// share main revision <see cref="CurrentRevision"/> + 1. End it with <see cref="MvccWriteTxn.End"/>
    /// (or Dispose) on this thread.
    /// </summary>
    public MvccWriteTxn Write(ulong consistentIndex)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Monitor.Enter(_batchLock);
        try
        {
            return new MvccWriteTxn(this, CurrentRevision, consistentIndex, Volatile.Read(ref _pending), _backend.OpenReader());
        }
        catch
        {
            Monitor.Exit(_batchLock);
            throw;
        }
    }

    /// <summary>
    /// Records that the Raft entry at <paramref name="consistentIndex"/> was applied without changing
    /// keys (a no-op, a membership change, a refused request); it is committed with the next batch.
    /// </summary>
    public void SetConsistentIndex(ulong consistentIndex)
    {
        lock (_batchLock)
        {
            SetConsistentIndexLocked(consistentIndex);
        }
    }

    /// <summary>A range at the current revision in a read transaction of its own.</summary>
    /// <exception cref="MvccException">The revision is compacted or in the future.</exception>
    public RangeResult Range(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> end, RangeOptions options = default)
    {
        using var txn = Read();
        return txn.Range(key, end, options);
    }

    /// <summary>
    /// Compacts the history at <paramref name="revision"/> (etcd's store.Compact): keeps each key's
    /// newest revision at or before it if the key was alive then, drops every older one, and fails
    /// reads below it from now on. Runs to the end before it returns and commits.
    /// </summary>
    /// <exception cref="MvccException">The revision is compacted already (at or below <see cref="CompactRevision"/>) or in the future.</exception>
    public void Compact(long revision)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_batchLock)
        {
            if (revision < 0 || (revision <= CompactRevision && _compacted)) throw new MvccException(KvError.Compacted);
            if (revision > CurrentRevision) throw new MvccException(KvError.FutureRevision);
            HashSet<Revision> keep;
            _compactLock.EnterWriteLock();
            try
            {
                Volatile.Write(ref _compactRevision, revision);
                _compacted = true;
                keep = _index.Compact(revision);
            }
            finally
            {
                _compactLock.ExitWriteLock();
            }
            _batch.Put(KvBucket.Meta, ScheduledCompactKey, new Revision(revision, 0).ToKey());
            _dirty = true;
            // What is still only in the batch must be committed before the backend can be scanned.
            CommitLocked();
            // Readers at or above the compaction revision never look below it for a pair the index
            // did not keep, so the history can go while they read.
            var end = new Revision(revision + 1, 0).ToKey()[..8];
            using (var reader = _backend.OpenReader())
            {
                foreach (var (key, _) in reader.Scan(KvBucket.Key, ReadOnlyMemory<byte>.Empty, end))
                {
                    if (!keep.Contains(Revision.FromKey(key))) _batch.Delete(KvBucket.Key, key);
                }
            }
            _batch.Put(KvBucket.Meta, FinishedCompactKey, new Revision(revision, 0).ToKey());
            _dirty = true;
            CommitLocked();
        }
    }

    /// <summary>
    /// Puts a pair into another bucket (alarms, leases) in the open batch, so it commits with the
    /// entry's other changes and applied index.
    /// </summary>
    /// <exception cref="ArgumentException">The bucket is the store's own (Key or Meta).</exception>
    public void PutAux(KvBucket bucket, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        CheckAux(bucket);
        lock (_batchLock)
        {
            _batch.Put(bucket, key, value);
            _dirty = true;
        }
    }

    /// <summary>Deletes a pair of another bucket in the open batch (see <see cref="PutAux"/>).</summary>
    public void DeleteAux(KvBucket bucket, ReadOnlySpan<byte> key)
    {
        CheckAux(bucket);
        lock (_batchLock)
        {
            _batch.Delete(bucket, key);
            _dirty = true;
        }
    }

    /// <summary>The committed pairs of another bucket (what the store finds there when it reopens).</summary>
    public List<KeyValuePair<byte[], byte[]>> ReadAux(KvBucket bucket)
    {
        CheckAux(bucket);
        using var reader = _backend.OpenReader();
        return reader.Scan(bucket, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty).ToList();
    }

    private static void CheckAux(KvBucket bucket)
    {
        if (bucket is KvBucket.Key or KvBucket.Meta) throw new ArgumentException($"the {bucket} bucket belongs to the store", nameof(bucket));
    }

    /// <summary>Commits the open batch now (etcd's ForceCommit), e.g. before a backend checkpoint.</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_batchLock) CommitLocked();
    }

    /// <summary>
    /// etcd's HashKV: CRC-32C (Castagnoli, as Go's crc32) of the Key bucket's name, then of each
    /// revision key and pair the backend holds up to <paramref name="revision"/> (0: the current one),
    /// in revision order. Members that applied the same entries and compactions answer the same hash
    /// at a revision, whatever they applied since. Commits the open batch first so the backend holds
    /// everything up to the revision (tombstones included, which the read buffer does not hold).
    /// </summary>
    /// <returns>The hash, the revision hashed and the compaction revision then.</returns>
    /// <exception cref="MvccException">The revision is compacted or in the future.</exception>
    public (uint Hash, long Revision, long CompactRevision) HashKV(long revision)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        IKvBackendReader reader;
        long current, compacted;
        lock (_batchLock)
        {
            CommitLocked();
            current = CurrentRevision;
            compacted = CompactRevision;
            if (revision > current) throw new MvccException(KvError.FutureRevision);
            if (revision != 0 && revision < compacted) throw new MvccException(KvError.Compacted);
            reader = _backend.OpenReader();
        }
        if (revision == 0) revision = current;
        using (reader)
        {
            var crc = Crc32C(uint.MaxValue, "key"u8);
            var end = new Revision(revision + 1, 0).ToKey()[..8];
            foreach (var (key, value) in reader.Scan(KvBucket.Key, ReadOnlyMemory<byte>.Empty, end))
            {
                crc = Crc32C(crc, key);
                crc = Crc32C(crc, value);
            }
            // The hash read every pair up to the revision: their pages need not stay mapped.
            _backend.ReleaseReadPages();
            return (~crc, revision, compacted);
        }
    }

    private static uint Crc32C(uint crc, ReadOnlySpan<byte> bytes)
    {
        // Eight bytes a step, read little-endian: the same CRC as a byte at a time.
        while (bytes.Length >= 8)
        {
            crc = System.Numerics.BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(bytes));
            bytes = bytes[8..];
        }
        foreach (var b in bytes) crc = System.Numerics.BitOperations.Crc32C(crc, b);
        return crc;
    }

    /// <summary>
    /// Replaces the whole store with <paramref name="pairs"/> (a snapshot's keys at
    /// <paramref name="revision"/>, in key order): the history below the revision is gone, so the
    /// store reads as compacted at it. Commits before it returns.
    /// </summary>
    public void Reset(long revision, IEnumerable<KeyValue> pairs, ulong consistentIndex)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_batchLock)
        {
            CommitLocked();
            _compactLock.EnterWriteLock();
            try
            {
                using (var reader = _backend.OpenReader())
                {
                    foreach (var bucket in new[] { KvBucket.Key, KvBucket.Meta })
                    {
                        foreach (var (key, _) in reader.Scan(bucket, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty))
                            _batch.Delete(bucket, key);
                    }
                }
                // Pairs written by one transaction share a main revision: their sub-revisions follow key order.
                var subs = new Dictionary<long, long>();
                foreach (var kv in pairs)
                {
                    var sub = subs.TryGetValue(kv.ModRevision, out var s) ? s + 1 : 0;
                    subs[kv.ModRevision] = sub;
                    _batch.Put(KvBucket.Key, new Revision(kv.ModRevision, sub).ToKey(), Encode(kv));
                }
                _batch.Put(KvBucket.Meta, FinishedCompactKey, new Revision(revision, 0).ToKey());
                _dirty = true;
                SetConsistentIndexLocked(consistentIndex);
                Volatile.Write(ref _currentRevision, revision);
                CommitLocked();
                _index.Clear();
                // The Meta bucket was emptied above: no compaction is left to resume.
                Load();
            }
            finally
            {
                _compactLock.ExitWriteLock();
            }
        }
    }

    /// <inheritdoc />
    /// <remarks>Commits what is pending, then disposes the backend.</remarks>
    public void Dispose()
    {
        if (_disposed) return;
        _timer?.Dispose();
        lock (_batchLock)
        {
            CommitLocked();
            _disposed = true;
            _batch.Dispose();
        }
        _backend.Dispose();
        _compactLock.Dispose();
    }

    // ---- used by the transactions ----

    internal TreeIndex Index => _index;

    /// <summary>The backend, for a checkpoint of it.</summary>
    internal IKvBackend Backend => _backend;

    /// <summary>The index, for tests that break it on purpose.</summary>
    internal TreeIndex IndexForTests => _index;

    internal void EnterRead() => _compactLock.EnterReadLock();

    internal void ExitRead() => _compactLock.ExitReadLock();

    /// <summary>Throws unless <paramref name="revision"/> can be read with <paramref name="current"/> the newest.</summary>
    internal void CheckReadable(long revision, long current)
    {
        if (revision > current) throw new MvccException(KvError.FutureRevision);
        if (revision < CompactRevision) throw new MvccException(KvError.Compacted);
    }

    internal void WriteChange(Revision rev, bool tombstone, byte[] value, PendingPairs pending)
    {
        // Both arrays are fresh and only read from here on (the value also by readers of _pending).
        _batch.PutOwned(KvBucket.Key, rev.ToKey(tombstone), value);
        if (!tombstone) pending.Open[rev] = value;
        _pendingChanges++;
        _dirty = true;
    }

    internal void AddKeys(long delta) => Interlocked.Add(ref _keyCount, delta);

    /// <summary>
    /// The keys alive when the store opened that carry a lease, with their lease, read on the walk
    /// that rebuilt the index (etcd's restore attaches them then); handed out once, to the first
    /// caller, so they are not kept. A range over every key for them read each value a second time.
    /// </summary>
    internal IEnumerable<(byte[] Key, long Lease)> TakeLoadedLeases()
    {
        var leases = Interlocked.Exchange(ref _loadedLeases, null);
        return leases is null ? [] : leases.Select(p => (System.Text.Encoding.Latin1.GetBytes(p.Key), p.Value));
    }

    /// <summary>Ends a write transaction: publishes its revision, commits when the batch is full, releases the batch.</summary>
    internal void EndWrite(ulong consistentIndex, long revision, IReadOnlyList<MvccEvent> changes)
    {
        try
        {
            SetConsistentIndexLocked(consistentIndex);
            if (changes.Count > 0) Volatile.Write(ref _currentRevision, revision);
            if (_pendingChanges >= _options.BatchLimit) CommitLocked();
        }
        finally
        {
            Monitor.Exit(_batchLock);
        }
        if (changes.Count > 0) Changed?.Invoke(new MvccChanges(revision, changes));
    }

    internal static byte[] Encode(KeyValue kv) =>
        new Pb.KeyValue
        {
            Key = UnsafeByteOperations.UnsafeWrap(kv.Key),
            CreateRevision = kv.CreateRevision,
            ModRevision = kv.ModRevision,
            Version = kv.Version,
            Value = UnsafeByteOperations.UnsafeWrap(kv.Value),
            Lease = kv.Lease,
        }.ToByteArray();

    internal static KeyValue Decode(byte[] bytes)
    {
        var pb = Pb.KeyValue.Parser.ParseFrom(bytes);
        return new KeyValue(pb.Key.Memory, pb.CreateRevision, pb.ModRevision, pb.Version, pb.Value.Memory, pb.Lease);
    }

    private void SetConsistentIndexLocked(ulong consistentIndex)
    {
        if (consistentIndex <= _consistentIndex) return;
        Volatile.Write(ref _consistentIndex, consistentIndex);
        _dirty = true;
    }

    /// <summary>
    /// The periodic commit (etcd's backend commits every batch interval too, but holds its batch
    /// lock through bbolt's commit and fsyncs; a put applied meanwhile waited up to milliseconds).
    /// The full batch is swapped for a new one under the batch lock, and committed outside it: its
    /// pairs stay readable in <see cref="PendingPairs.Committing"/> until the commit is done.
    /// </summary>
    private void CommitIfPending()
    {
        if (_disposed) return;
        IKvBackendBatch full;
        ulong index;
        ConcurrentDictionary<Revision, byte[]> open;
        lock (_batchLock)
        {
            if (_disposed || !_dirty) return;
            // Batches commit in order: an earlier one still committing ends first.
            Monitor.Enter(_commitLock);
            index = _consistentIndex;
            full = SealLocked();
            open = new ConcurrentDictionary<Revision, byte[]>();
            Volatile.Write(ref _pending, new PendingPairs(open, _pending.Open));
        }
        try
        {
            full.Commit();
            full.Dispose();
            Volatile.Write(ref _committedConsistentIndex, index);
            // Only now: a reader that took the buffer with the committing pairs finds them there,
            // one that takes this one opens its backend view after the commit. Only swaps replace
            // the buffer, and they wait for this lock, so the open pairs are still these.
            Volatile.Write(ref _pending, new PendingPairs(open, null));
        }
        finally
        {
            Monitor.Exit(_commitLock);
        }
    }

    private void CommitLocked()
    {
        lock (_commitLock)
        {
            if (!_dirty) return;
            var full = SealLocked();
            full.Commit();
            full.Dispose();
            Volatile.Write(ref _committedConsistentIndex, _consistentIndex);
            // Only now: a reader that took the old buffer finds the pairs there, one that takes the new
            // buffer opens its backend view after this commit.
            Volatile.Write(ref _pending, PendingPairs.Empty());
        }
    }

    // Puts the applied index into the open batch and opens the next one; returns the full batch.
    private IKvBackendBatch SealLocked()
    {
        var index = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(index, _consistentIndex);
        _batch.Put(KvBucket.Meta, ConsistentIndexKey, index);
        var full = _batch;
        _batch = _backend.BeginBatch();
        _pendingChanges = 0;
        _dirty = false;
        return full;
    }

    // Rebuilds the index and the revisions from the committed backend (etcd's store.restore).
    private long Load()
    {
        using var reader = _backend.OpenReader();
        if (reader.Get(KvBucket.Meta, ConsistentIndexKey) is { Length: 8 } ci)
            _consistentIndex = _committedConsistentIndex = BinaryPrimitives.ReadUInt64BigEndian(ci);
        var finishedKey = reader.Get(KvBucket.Meta, FinishedCompactKey);
        _compacted = finishedKey is not null;
        _compactRevision = finishedKey is { } finished ? Revision.FromKey(finished).Main : 0;
        var scheduled = reader.Get(KvBucket.Meta, ScheduledCompactKey) is { } s ? Revision.FromKey(s).Main : 0;
        var current = 1L;
        var loader = new TreeIndexLoader();
        // Each key's last lease, in revision order: the last change of a key decides (etcd's restore).
        var leases = new Dictionary<string, long>(StringComparer.Ordinal);
        reader.Visit(KvBucket.Key, [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)] (key, value) =>
        {
            var rev = Revision.FromKey(key);
            current = Math.Max(current, rev.Main);
            var name = KeyValueFields.Read(value, out var created, out var version, out var lease);
            var tombstone = Revision.IsTombstoneKey(key);
            loader.Add(name, rev, tombstone, created, version);
            // A store without leases pays nothing here.
            if (lease != 0 && !tombstone) leases[System.Text.Encoding.Latin1.GetString(name)] = lease;
            else if (leases.Count > 0) leases.Remove(System.Text.Encoding.Latin1.GetString(name));
            return true;
        });
        var alive = loader.LoadInto(_index);
        _loadedLeases = leases.Count == 0 ? null : leases;
        // The walk touched every page of the Key bucket, values and all; reads from now on need few
        // of them, so the process need not keep them all mapped.
        _backend.ReleaseReadPages();
        Volatile.Write(ref _currentRevision, Math.Max(Math.Max(current, _compactRevision), Volatile.Read(ref _currentRevision)));
        Interlocked.Exchange(ref _keyCount, alive);
        return scheduled;
    }
}
