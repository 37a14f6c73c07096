using LightningDB;
using Raft.Shell.IO;

namespace Raft.Kv.Backend;

/// <summary>
/// The store's backend on LMDB (through LightningDB): one named database per bucket in one
/// environment (<c>data.mdb</c>), the B+tree with copy-on-write pages and two alternating meta
/// pages that bbolt, etcd's backend, was modelled on. Commits sync (MDB_NOSYNC, MDB_NOMETASYNC,
/// MDB_MAPASYNC and MDB_WRITEMAP are never set, but for the power-loss tests'
/// <see cref="UnsafeNoSyncVariable"/>): LMDB fsyncs the new pages, then the meta page that points at them, so a crash or power loss leaves the last committed tree or the one before.
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

    /// <summary>
    /// For the power-loss tests only: when this environment variable is <c>1</c>, environments open
    /// with MDB_NOSYNC, so commits are not durable. The tests show that their power cuts then lose
    /// acknowledged writes, which they never do with LMDB's syncs on.
    /// </summary>
    public const string UnsafeNoSyncVariable = "RAFT_KV_UNSAFE_NOSYNC";

    private static readonly HashSet<string> OpenDirectories = new(StringComparer.Ordinal);

    /// <summary>The directory inside a backend's directory where defragmentation builds the compacted copy.</summary>
    internal const string DefragStagingName = ".defrag";

    private readonly string _directory;
    // Replaced only by Defragment, with the write lock and the reader table's lock held and no reader open.
    private LightningEnvironment _env;
    private LightningDatabase[] _buckets;
    private readonly object _writeLock = new();
    // Also the monitor that OpenReader and Defragment wait on.
    private readonly HashSet<Reader> _readers = [];
    private bool _defragmenting;
    private bool _disposed;
    // The data file's size, read again only after a commit or a defragmentation changed the file: the
    // quota check reads it on every write request, and a stat(2) with its FileInfo for each was a
    // share of a put's cost. Bumped after every change; the cached size names the count it was read at.
    private long _fileVersion;
    private FileSize? _fileSize;

    private sealed record FileSize(long Version, long Bytes);

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
        try
        {
            Directory.CreateDirectory(full);
            // A restore or a defragmentation that stopped before its rename left its staging
            // directory; the old database is whole.
            foreach (var name in new[] { KvBackends.RestoreStagingName, DefragStagingName })
            {
                var staging = Path.Combine(full, name);
                if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            }
            var (env, buckets) = OpenEnvironment(full);
            return new LmdbBackend(full, env, buckets);
        }
        catch
        {
            lock (OpenDirectories) OpenDirectories.Remove(full);
            throw;
        }
    }

    private static (LightningEnvironment Env, LightningDatabase[] Buckets) OpenEnvironment(string full)
    {
        var env = new LightningEnvironment(full, new EnvironmentConfiguration
        {
            MapSize = MapSizeBytes,
            MaxDatabases = AllBuckets.Length,
            MaxReaders = 1024,
        });
        try
        {
            try
            {
                var flags = EnvironmentOpenFlags.NoThreadLocalStorage | EnvironmentOpenFlags.NoReadAhead;
                if (Environment.GetEnvironmentVariable(UnsafeNoSyncVariable) == "1") flags |= EnvironmentOpenFlags.NoSync;
                env.Open(flags);
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
            // LMDB syncs its file's contents but never the directory that holds it: until the
            // directory is fsynced, a power cut can take away data.mdb's very name (and with it every
            // commit, although the WAL may already have been released past them). The directory's own
            // entry in its parent (member/kv in member/) likewise.
            Native.FsyncDirectory(full);
            if (Path.GetDirectoryName(full) is { } parent) Native.FsyncDirectory(parent);
            return (env, buckets);
        }
        catch
        {
            env.Dispose();
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
            var version = Interlocked.Read(ref _fileVersion);
            if (Volatile.Read(ref _fileSize) is { } cached && cached.Version == version) return cached.Bytes;
            // A commit during the stat bumps the count past this one, so the next read stats again.
            var bytes = new FileInfo(Path.Combine(_directory, DataFile)).Length;
            Volatile.Write(ref _fileSize, new FileSize(version, bytes));
            return bytes;
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// The pages the buckets' B+trees and the main database take, and the two meta pages; the rest of
    /// the file is free pages that LMDB reuses (and the free list itself).
    /// </remarks>
    public long SizeInUseBytes
    {
        get
        {
            lock (_readers)
            {
                while (_defragmenting) Monitor.Wait(_readers);
                ObjectDisposedException.ThrowIf(_disposed, this);
                var main = _env.EnvironmentStats;
                long pages = 2 + main.BranchPages + main.LeafPages + main.OverflowPages;
                using (var tx = _env.BeginTransaction(TransactionBeginFlags.ReadOnly))
                {
                    foreach (var b in AllBuckets)
                    {
                        var stats = tx.GetStats(Db(b));
                        pages += stats.BranchPages + stats.LeafPages + stats.OverflowPages;
                    }
                }
                return pages * main.PageSize;
            }
        }
    }

    /// <summary>How long a defragmentation waits for open readers to end before it gives up.</summary>
    public static readonly TimeSpan DefragmentReaderWait = TimeSpan.FromSeconds(10);

    /// <inheritdoc />
    /// <remarks>
    /// LMDB's compacting copy (<c>mdb_env_copy2</c> with <c>MDB_CP_COMPACT</c>, which leaves free
    /// pages out) into a staging directory, synced, then renamed over the data file, as a restore
    /// does, and the environment reopened on it. Writes wait for the whole of it and new readers
    /// from when it starts; readers already open are waited for (at most
    /// <see cref="DefragmentReaderWait"/>, then it gives up and changes nothing), because LMDB's
    /// environment cannot close under them.
    /// </remarks>
    public void Defragment() => Defragment(DefragmentReaderWait);

    /// <summary><see cref="Defragment()"/> that waits at most <paramref name="readerWait"/> for open readers.</summary>
    internal void Defragment(TimeSpan readerWait)
    {
        lock (_writeLock)
        {
            lock (_readers)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                _defragmenting = true;
                try
                {
                    var deadline = DateTime.UtcNow + readerWait;
                    while (_readers.Count > 0)
                    {
                        var left = deadline - DateTime.UtcNow;
                        if (left <= TimeSpan.Zero || !Monitor.Wait(_readers, left) && _readers.Count > 0)
                            throw new TimeoutException($"defragment: {_readers.Count} read transactions still open after {readerWait.TotalSeconds:0.#} s");
                    }
                    var staging = Path.Combine(_directory, DefragStagingName);
                    if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
                    Directory.CreateDirectory(staging);
                    try
                    {
                        _env.CopyTo(staging, compact: true).ThrowOnError();
                        foreach (var db in _buckets) db?.Dispose();
                        _env.Dispose();
                        try
                        {
                            ReplaceDataFile(staging, _directory);
                        }
                        finally
                        {
                            // Before the rename the old file is in place, after it the new one: either
                            // is whole, and the backend goes on with it.
                            (_env, _buckets) = OpenEnvironment(_directory);
                        }
                    }
                    finally
                    {
                        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
                    }
                }
                finally
                {
                    Interlocked.Increment(ref _fileVersion);
                    _defragmenting = false;
                    Monitor.PulseAll(_readers);
                }
            }
        }
    }

    /// <summary>
    /// Puts the data file built in <paramref name="staging"/> in place of <paramref name="directory"/>'s,
    /// durably: the new file and its directory are synced, then one rename(2) replaces the old file, so
    /// a crash leaves one database or the other, whole. The environment must be closed.
    /// </summary>
    internal static void ReplaceDataFile(string staging, string directory)
    {
        var stagedData = Path.Combine(staging, DataFile);
        using (var f = new FileStream(stagedData, FileMode.Open, FileAccess.ReadWrite)) f.Flush(flushToDisk: true);
        Raft.Shell.IO.Native.FsyncDirectory(staging);
        File.Move(stagedData, Path.Combine(directory, DataFile), overwrite: true);
        // The old reader table describes the old file; LMDB rebuilds a missing one.
        File.Delete(Path.Combine(directory, LockFile));
        Raft.Shell.IO.Native.FsyncDirectory(directory);
    }

    /// <inheritdoc />
    public IKvBackendReader OpenReader()
    {
        lock (_readers)
        {
            // A defragmentation swaps the environment: new readers wait for the new one.
            while (_defragmenting) Monitor.Wait(_readers);
            ObjectDisposedException.ThrowIf(_disposed, this);
            var reader = new Reader(this, _env.BeginTransaction(TransactionBeginFlags.ReadOnly));
            _readers.Add(reader);
            return reader;
        }
    }

    /// <summary>
    /// Unmaps the pages of <c>data.mdb</c> that reads have touched (see <see cref="MappedPages"/>):
    /// they stay in the page cache, and the next read maps again only those it needs.
    /// </summary>
    public void ReleaseReadPages() => MappedPages.Release(Path.Combine(_directory, DataFile));

    /// <inheritdoc />
    public IKvBackendBatch BeginBatch()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new Batch(this);
    }

    /// <inheritdoc />
    /// <remarks>
    /// LMDB's own compacting copy of the file with a trailer (<see cref="LmdbFileCheckpoint"/>),
    /// which a follower renames into place instead of loading pair by pair. The write lock is held
    /// only until the copy's read transaction has begun (its first bytes), so the copy is the state
    /// of the last commit and writers go on while it is streamed. A read view stays open for the
    /// copy's whole length: a defragmentation waits for it, and closing the backend stops the copy
    /// before the environment goes.
    /// </remarks>
    public async Task WriteCheckpointAsync(Stream destination, CancellationToken cancellationToken)
    {
        LmdbFileCheckpoint.Copy copy;
        lock (_writeLock)
        {
            var reader = (Reader)OpenReader();
            try
            {
                copy = LmdbFileCheckpoint.Start(_env, reader);
            }
            catch
            {
                reader.Dispose();
                throw;
            }
            reader.OnEnd = copy.End;
        }
        await copy.WriteToAsync(destination, cancellationToken).ConfigureAwait(false);
        // The copy read every page; the member's own reads need few of them.
        ReleaseReadPages();
    }

    private void Apply(List<(KvBucket Bucket, byte[] Key, byte[]? Value)> changes)
    {
        lock (_writeLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            try
            {
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
            finally
            {
                // Also after a failed commit: LMDB may have grown the file before it failed.
                Interlocked.Increment(ref _fileVersion);
            }
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

        public void PutOwned(KvBucket bucket, byte[] key, byte[] value)
        {
            backend.CheckKey(key);
            backend.Db(bucket);
            Changes.Add((bucket, key, value));
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

        /// <summary>Runs when the view ends, before its transaction (a copy that uses the environment stops first).</summary>
        public Action? OnEnd { get; set; }

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
                OnEnd?.Invoke();
                tx.Dispose();
            }
        }

        public void Dispose()
        {
            lock (backend._readers)
            {
                backend._readers.Remove(this);
                // A defragmentation may be waiting for the last reader.
                if (backend._defragmenting) Monitor.PulseAll(backend._readers);
            }
            End();
        }
    }
}
