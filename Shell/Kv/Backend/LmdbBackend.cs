using LightningDB;

namespace Raft.Kv.Backend;

/// <summary>
/// The store's backend on LMDB (through LightningDB): one named database per bucket in one
/// environment (<c>data.mdb</c>), the B+tree with copy-on-write pages and two alternating meta
/// pages that bbolt, etcd's backend, was modelled on. Commits sync (MDB_NOSYNC, MDB_NOMETASYNC,
/// MDB_MAPASYNC and MDB_WRITEMAP are never set): LMDB fsyncs the new pages, then the meta page
/// that points at them, so a crash or power loss leaves the last committed tree or the one before.
/// A batch is buffered in memory and applied in one write transaction on <see cref="IKvBackendBatch.Commit"/>,
/// so no LMDB write transaction outlives a call or crosses threads. Readers are read-only
/// transactions (MDB_NOTLS: a view may move between threads, one at a time).
/// </summary>
internal sealed class LmdbBackend : IKvBackend
{
    /// <summary>The environment's data file (LMDB's name).</summary>
    public const string DataFile = "data.mdb";

    /// <summary>LMDB's lock file: the reader table, rebuilt by the first process that opens the environment.</summary>
    public const string LockFile = "lock.mdb";

    /// <summary>
    /// Address space reserved for the map. LMDB never grows it by itself and resizing under live
    /// readers is unsafe, so it is large once; the file on disk grows only with the data.
    /// </summary>
    public const long MapSizeBytes = 256L << 30;

    private static readonly HashSet<string> OpenDirectories = new(StringComparer.Ordinal);

    private readonly string _directory;
    private readonly LightningEnvironment _env;
    private readonly LightningDatabase[] _buckets;
    private readonly object _writeLock = new();
    private readonly HashSet<Reader> _readers = [];
    private bool _disposed;

    private LmdbBackend(string directory, LightningEnvironment env, LightningDatabase[] buckets)
    {
        _directory = directory;
        _env = env;
        _buckets = buckets;
    }

    /// <summary>The buckets in their stored order.</summary>
    public static readonly KvBucket[] AllBuckets = Enum.GetValues<KvBucket>();

    /// <summary>The longest key LMDB takes (its compile-time MDB_MAXKEYSIZE).</summary>
    public int MaxKeyBytes => _env.MaxKeySize;

    /// <summary>
    /// Opens (or creates) the environment in <paramref name="directory"/>. LMDB must not open one
    /// environment twice in a process (its locks are per process), so a second open throws.
    /// </summary>
    public static LmdbBackend Open(string directory)
    {
        LmdbLibrary.Install();
        var full = Path.GetFullPath(directory);
        lock (OpenDirectories)
        {
            if (!OpenDirectories.Add(full)) throw new InvalidOperationException($"{full}: the key-value backend is already open in this process");
        }
        LightningEnvironment? env = null;
        try
        {
            Directory.CreateDirectory(full);
            // A restore that stopped before its rename left its staging directory; the old database is whole.
            var staging = Path.Combine(full, KvBackends.RestoreStagingName);
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            env = new LightningEnvironment(full, new EnvironmentConfiguration
            {
                MapSize = MapSizeBytes,
                MaxDatabases = AllBuckets.Length,
                MaxReaders = 1024,
            });
            try
            {
                env.Open(EnvironmentOpenFlags.NoThreadLocalStorage | EnvironmentOpenFlags.NoReadAhead);
            }
            catch (LightningException ex) when (ex.StatusCode is (int)MDBResultCode.VersionMismatch or (int)MDBResultCode.Invalid)
            {
                throw new InvalidDataException(
                    $"{Path.Combine(full, DataFile)} is not a database this LMDB ({env.Version}) reads: " +
                    $"it was written by the other LMDB format (the package's LMDB 1.x or the system's {LmdbLibrary.SystemLibrary}, 0.9), or it is damaged. " +
                    "Restore it from a checkpoint (a member's snapshot).", ex);
            }
            var buckets = new LightningDatabase[AllBuckets.Max(b => (int)b) + 1];
            using (var tx = env.BeginTransaction())
            {
                foreach (var b in AllBuckets)
                    buckets[(int)b] = tx.OpenDatabase(BucketName(b), new DatabaseConfiguration { Flags = DatabaseOpenFlags.Create });
                tx.Commit().ThrowOnError();
            }
            return new LmdbBackend(full, env, buckets);
        }
        catch
        {
            env?.Dispose();
            lock (OpenDirectories) OpenDirectories.Remove(full);
            throw;
        }
    }

    /// <summary>True when this process has the environment in <paramref name="directory"/> open.</summary>
    public static bool IsOpen(string directory)
    {
        lock (OpenDirectories) return OpenDirectories.Contains(Path.GetFullPath(directory));
    }

    /// <summary>etcd's bucket names, so that the file reads like etcd's to a person with mdb_dump.</summary>
    private static string BucketName(KvBucket bucket) => bucket switch
    {
        KvBucket.Key => "key",
        KvBucket.Meta => "meta",
        KvBucket.Lease => "lease",
        KvBucket.Alarm => "alarm",
        KvBucket.Auth => "auth",
        KvBucket.Members => "members",
        _ => throw new ArgumentOutOfRangeException(nameof(bucket), bucket, null),
    };

    private LightningDatabase Db(KvBucket bucket) =>
        (int)bucket < _buckets.Length && _buckets[(int)bucket] is { } db ? db : throw new ArgumentOutOfRangeException(nameof(bucket), bucket, null);

    /// <inheritdoc />
    public long SizeBytes
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return new FileInfo(Path.Combine(_directory, DataFile)).Length;
        }
    }

    /// <inheritdoc />
    public IKvBackendReader OpenReader()
    {
        lock (_readers)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var reader = new Reader(this, _env.BeginTransaction(TransactionBeginFlags.ReadOnly));
            _readers.Add(reader);
            return reader;
        }
    }

    /// <inheritdoc />
    public IKvBackendBatch BeginBatch()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new Batch(this);
    }

    /// <inheritdoc />
    public async Task WriteCheckpointAsync(Stream destination, CancellationToken cancellationToken)
    {
        // One read transaction: the copy is the state of one commit, and writers go on meanwhile
        // (LMDB keeps the pages this reader sees until it ends).
        using var reader = OpenReader();
        var writer = new BackendCheckpoint.Writer(destination);
        foreach (var bucket in AllBuckets)
            foreach (var (key, value) in reader.Scan(bucket, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty))
                await writer.AddAsync(bucket, key, value, cancellationToken).ConfigureAwait(false);
        await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    private void Apply(List<(KvBucket Bucket, byte[] Key, byte[]? Value)> changes)
    {
        lock (_writeLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var tx = _env.BeginTransaction();
            foreach (var (bucket, key, value) in changes)
            {
                if (value is null)
                {
                    var rc = tx.Delete(Db(bucket), key);
                    if (rc is not (MDBResultCode.Success or MDBResultCode.NotFound)) rc.ThrowOnError();
                }
                else
                {
                    tx.Put(Db(bucket), key, value).ThrowOnError();
                }
            }
            // Returns after LMDB's fsync of the data pages and then of the meta page.
            tx.Commit().ThrowOnError();
        }
    }

    private void CheckKey(ReadOnlySpan<byte> key)
    {
        if (key.Length == 0 || key.Length > MaxKeyBytes)
            throw new ArgumentException($"a key must have 1 to {MaxKeyBytes} bytes (LMDB's limit), not {key.Length}", nameof(key));
    }

    /// <summary>Closes the environment; readers still open are ended and throw on further use.</summary>
    public void Dispose()
    {
        lock (_writeLock)
        {
            lock (_readers)
            {
                if (_disposed) return;
                _disposed = true;
                foreach (var r in _readers.ToList()) r.End();
                _readers.Clear();
            }
            foreach (var db in _buckets) db?.Dispose();
            _env.Dispose();
            lock (OpenDirectories) OpenDirectories.Remove(_directory);
        }
    }

    private sealed class Batch(LmdbBackend backend) : IKvBackendBatch
    {
        private List<(KvBucket, byte[], byte[]?)>? _changes = [];

        public void Put(KvBucket bucket, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
        {
            backend.CheckKey(key);
            backend.Db(bucket);
            Changes.Add((bucket, key.ToArray(), value.ToArray()));
        }

        public void Delete(KvBucket bucket, ReadOnlySpan<byte> key)
        {
            backend.CheckKey(key);
            backend.Db(bucket);
            Changes.Add((bucket, key.ToArray(), null));
        }

        public void Commit()
        {
            backend.Apply(Changes);
            _changes = null;
        }

        private List<(KvBucket, byte[], byte[]?)> Changes =>
            _changes ?? throw new InvalidOperationException("the batch is committed or disposed; begin a new one");

        public void Dispose() => _changes = null;
    }

    private sealed class Reader(LmdbBackend backend, LightningTransaction tx) : IKvBackendReader
    {
        // LMDB forbids using one transaction from two threads at once; the lock lets callers share a view.
        private readonly object _gate = new();
        private bool _ended;

        public byte[]? Get(KvBucket bucket, ReadOnlySpan<byte> key)
        {
            if (key.IsEmpty) return null;
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_ended, this);
                var (rc, _, value) = tx.Get(backend.Db(bucket), key);
                if (rc == MDBResultCode.NotFound) return null;
                rc.ThrowOnError();
                return value.CopyToNewArray();
            }
        }

        public IEnumerable<KeyValuePair<byte[], byte[]>> Scan(KvBucket bucket, ReadOnlyMemory<byte> from, ReadOnlyMemory<byte> to, int limit = 0)
        {
            var db = backend.Db(bucket);
            lock (_gate) ObjectDisposedException.ThrowIf(_ended, this);
            return Iterate(db, from, to, limit);
        }

        // The pairs straight from LMDB's pages: the gate stays held for the whole walk.
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        public void Visit(KvBucket bucket, KvPairVisitor visit)
        {
            var db = backend.Db(bucket);
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_ended, this);
                using var cursor = tx.CreateCursor(db);
                var (rc, k, v) = cursor.First();
                while (rc == MDBResultCode.Success)
                {
                    if (!visit(k.AsSpan(), v.AsSpan())) return;
                    (rc, k, v) = cursor.Next();
                }
                if (rc != MDBResultCode.NotFound) rc.ThrowOnError();
            }
        }

        private IEnumerable<KeyValuePair<byte[], byte[]>> Iterate(LightningDatabase db, ReadOnlyMemory<byte> from, ReadOnlyMemory<byte> to, int limit)
        {
            LightningCursor cursor;
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_ended, this);
                cursor = tx.CreateCursor(db);
            }
            try
            {
                var count = 0;
                var first = true;
                while (limit <= 0 || count < limit)
                {
                    KeyValuePair<byte[], byte[]> pair;
                    lock (_gate)
                    {
                        ObjectDisposedException.ThrowIf(_ended, this);
                        MDBResultCode rc;
                        MDBValue k, v;
                        if (first)
                        {
                            first = false;
                            if (from.IsEmpty) (rc, k, v) = cursor.First();
                            else
                            {
                                rc = cursor.SetRange(from.Span);
                                (rc, k, v) = rc == MDBResultCode.Success ? cursor.GetCurrent() : (rc, default, default);
                            }
                        }
                        else (rc, k, v) = cursor.Next();
                        if (rc == MDBResultCode.NotFound) yield break;
                        rc.ThrowOnError();
                        if (!to.IsEmpty && k.AsSpan().SequenceCompareTo(to.Span) >= 0) yield break;
                        pair = new KeyValuePair<byte[], byte[]>(k.CopyToNewArray(), v.CopyToNewArray());
                    }
                    count++;
                    yield return pair;
                }
            }
            finally
            {
                lock (_gate)
                {
                    if (!_ended) cursor.Dispose();
                }
            }
        }

        /// <summary>Aborts the read transaction (the backend closes).</summary>
        public void End()
        {
            lock (_gate)
            {
                if (_ended) return;
                _ended = true;
                tx.Dispose();
            }
        }

        public void Dispose()
        {
            lock (backend._readers) backend._readers.Remove(this);
            End();
        }
    }
}
