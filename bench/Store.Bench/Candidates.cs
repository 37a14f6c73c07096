using System.Buffers.Binary;
using LightningDB;
using Microsoft.Data.Sqlite;
using RocksDbSharp;
using ZoneTree;
using ZoneTree.Comparers;
using ZoneTree.Options;
using ZoneTree.Serializers;

namespace Raft.Store.Bench;

/// <summary>What the benchmark needs of a database: one ordered bucket, fsynced batches, a copy.</summary>
internal interface ICandidate : IDisposable
{
    /// <summary>Writes every pair and returns once they are durable (fsync).</summary>
    void Commit(IReadOnlyList<(byte[] Key, byte[] Value)> batch);
    byte[]? Get(byte[] key);
    /// <summary>Reads up to <paramref name="count"/> pairs from <paramref name="from"/> on; returns how many bytes.</summary>
    long Scan(byte[] from, int count);
    /// <summary>Writes a consistent copy to <paramref name="destination"/> while commits go on.</summary>
    void Checkpoint(FileStream destination, string scratch);
}

/// <summary>LMDB through LightningDB: one named database, sync on commit (no MDB_NOSYNC).</summary>
internal sealed class LmdbCandidate : ICandidate
{
    private readonly LightningEnvironment _env;
    private readonly LightningDatabase _db;

    static LmdbCandidate()
    {
        // The package's liblmdb.so needs glibc 2.38; Debian 12 has 2.36, so fall back to its liblmdb0.
        System.Runtime.InteropServices.NativeLibrary.SetDllImportResolver(typeof(LightningEnvironment).Assembly, (name, asm, path) =>
        {
            if (name != "lmdb") return IntPtr.Zero;
            if (System.Runtime.InteropServices.NativeLibrary.TryLoad(name, asm, path, out var h)) return h;
            return System.Runtime.InteropServices.NativeLibrary.Load("liblmdb.so.0");
        });
    }

    public LmdbCandidate(string dir)
    {
        Directory.CreateDirectory(dir);
        _env = new LightningEnvironment(dir, new EnvironmentConfiguration { MapSize = 64L << 30, MaxDatabases = 8 });
        _env.Open(EnvironmentOpenFlags.NoThreadLocalStorage | EnvironmentOpenFlags.NoReadAhead);
        using var tx = _env.BeginTransaction();
        _db = tx.OpenDatabase("key", new DatabaseConfiguration { Flags = DatabaseOpenFlags.Create });
        tx.Commit().ThrowOnError();
    }

    public void Commit(IReadOnlyList<(byte[] Key, byte[] Value)> batch)
    {
        using var tx = _env.BeginTransaction();
        foreach (var (k, v) in batch) tx.Put(_db, k, v).ThrowOnError();
        tx.Commit().ThrowOnError();
    }

    public byte[]? Get(byte[] key)
    {
        using var tx = _env.BeginTransaction(TransactionBeginFlags.ReadOnly);
        var (rc, _, v) = tx.Get(_db, key);
        return rc == MDBResultCode.Success ? v.CopyToNewArray() : null;
    }

    public long Scan(byte[] from, int count)
    {
        using var tx = _env.BeginTransaction(TransactionBeginFlags.ReadOnly);
        using var c = tx.CreateCursor(_db);
        long bytes = 0;
        if (c.SetRange(from) != MDBResultCode.Success) return 0;
        var (rc, k, v) = c.GetCurrent();
        for (var i = 0; i < count && rc == MDBResultCode.Success; i++)
        {
            bytes += k.CopyToNewArray().Length + v.CopyToNewArray().Length;
            (rc, k, v) = c.Next();
        }
        return bytes;
    }

    public void Checkpoint(FileStream destination, string scratch) => _env.CopyToStream(destination, compact: true).ThrowOnError();

    public void Dispose()
    {
        _db.Dispose();
        _env.Dispose();
    }
}

/// <summary>RocksDB: WriteBatch with sync=true, default column family, checkpoint by hard links.</summary>
internal sealed class RocksCandidate : ICandidate
{
    private readonly RocksDb _db;
    private readonly WriteOptions _sync = new WriteOptions().SetSync(true);

    public RocksCandidate(string dir)
    {
        Directory.CreateDirectory(dir);
        _db = RocksDb.Open(new DbOptions().SetCreateIfMissing(true), dir);
    }

    public void Commit(IReadOnlyList<(byte[] Key, byte[] Value)> batch)
    {
        using var wb = new WriteBatch();
        foreach (var (k, v) in batch) wb.Put(k, v);
        _db.Write(wb, _sync);
    }

    public byte[]? Get(byte[] key) => _db.Get(key);

    public long Scan(byte[] from, int count)
    {
        using var it = _db.NewIterator();
        long bytes = 0;
        it.Seek(from);
        for (var i = 0; i < count && it.Valid(); i++, it.Next()) bytes += it.Key().Length + it.Value().Length;
        return bytes;
    }

    public void Checkpoint(FileStream destination, string scratch)
    {
        var dir = Path.Combine(scratch, "rocks-checkpoint");
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        using (var cp = _db.Checkpoint()) cp.Save(dir, 0);
        StreamFiles(dir, destination);
        Directory.Delete(dir, true);
    }

    internal static void StreamFiles(string dir, Stream destination)
    {
        foreach (var f in Directory.GetFiles(dir))
        {
            using var s = File.OpenRead(f);
            s.CopyTo(destination);
        }
    }

    public void Dispose() => _db.Dispose();
}

/// <summary>SQLite: a WITHOUT ROWID table keyed by BLOB (memcmp order), WAL journal, synchronous=FULL.</summary>
internal sealed class SqliteCandidate : ICandidate
{
    private readonly SqliteConnection _write;
    private readonly SqliteConnection _read;
    private readonly string _file;

    public SqliteCandidate(string dir)
    {
        Directory.CreateDirectory(dir);
        _file = Path.Combine(dir, "kv.db");
        _write = Open(_file);
        Exec(_write, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;");
        _read = Open(_file);
    }

    private static SqliteConnection Open(string file)
    {
        var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Pooling = false }.ToString());
        c.Open();
        Exec(c, "PRAGMA synchronous=FULL;");
        return c;
    }

    private static void Exec(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    public void Commit(IReadOnlyList<(byte[] Key, byte[] Value)> batch)
    {
        lock (_write)
        {
            using var tx = _write.BeginTransaction();
            using var cmd = _write.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT OR REPLACE INTO kv(k, v) VALUES ($k, $v)";
            var pk = cmd.Parameters.Add("$k", SqliteType.Blob);
            var pv = cmd.Parameters.Add("$v", SqliteType.Blob);
            cmd.Prepare();
            foreach (var (k, v) in batch)
            {
                pk.Value = k;
                pv.Value = v;
                cmd.ExecuteNonQuery();
            }
            tx.Commit();
        }
    }

    public byte[]? Get(byte[] key)
    {
        lock (_read)
        {
            using var cmd = _read.CreateCommand();
            cmd.CommandText = "SELECT v FROM kv WHERE k = $k";
            cmd.Parameters.AddWithValue("$k", key);
            return cmd.ExecuteScalar() as byte[];
        }
    }

    public long Scan(byte[] from, int count)
    {
        lock (_read)
        {
            using var cmd = _read.CreateCommand();
            cmd.CommandText = "SELECT k, v FROM kv WHERE k >= $k ORDER BY k LIMIT $n";
            cmd.Parameters.AddWithValue("$k", from);
            cmd.Parameters.AddWithValue("$n", count);
            using var r = cmd.ExecuteReader();
            long bytes = 0;
            while (r.Read()) bytes += ((byte[])r[0]).Length + ((byte[])r[1]).Length;
            return bytes;
        }
    }

    public void Checkpoint(FileStream destination, string scratch)
    {
        // VACUUM INTO copies inside one read transaction: consistent, and WAL mode lets writers go on.
        var copy = Path.Combine(scratch, "sqlite-checkpoint.db");
        File.Delete(copy);
        using (var c = Open(_file))
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = "VACUUM INTO $f";
            cmd.Parameters.AddWithValue("$f", copy);
            cmd.ExecuteNonQuery();
        }
        using (var s = File.OpenRead(copy)) s.CopyTo(destination);
        File.Delete(copy);
    }

    public void Dispose()
    {
        _read.Dispose();
        _write.Dispose();
        SqliteConnection.ClearAllPools();
    }
}

/// <summary>
/// ZoneTree (an LSM tree in C#): upserts then a WAL sync per batch (AsyncCompressed WAL: Sync mode would fsync every upsert). Its plain tree has no atomic
/// multi-key batch (the transactional layer adds one at a cost); the checkpoint is a snapshot iterator.
/// </summary>
internal sealed class ZoneTreeCandidate : ICandidate
{
    private readonly IZoneTree<Memory<byte>, Memory<byte>> _tree;
    private readonly IMaintainer _maintainer;

    public ZoneTreeCandidate(string dir)
    {
        Directory.CreateDirectory(dir);
        _tree = new ZoneTreeFactory<Memory<byte>, Memory<byte>>()
            .SetDataDirectory(dir)
            .SetComparer(new ByteArrayLexicographicComparerAscending())
            .SetKeySerializer(new ByteArraySerializer())
            .SetValueSerializer(new ByteArraySerializer())
            .ConfigureWriteAheadLogOptions(o => o.WriteAheadLogMode = WriteAheadLogMode.AsyncCompressed)
            .OpenOrCreate();
        _maintainer = _tree.CreateMaintainer();
    }

    public void Commit(IReadOnlyList<(byte[] Key, byte[] Value)> batch)
    {
        foreach (var (k, v) in batch)
        {
            Memory<byte> mk = k, mv = v;
            _tree.Upsert(in mk, in mv);
        }
        _tree.SyncWALAsync(CancellationToken.None).GetAwaiter().GetResult();
    }

    public byte[]? Get(byte[] key)
    {
        Memory<byte> k = key;
        return _tree.TryGet(in k, out var v) ? v.ToArray() : null;
    }

    public long Scan(byte[] from, int count)
    {
        using var it = _tree.CreateIterator(IteratorType.NoRefresh, false, true);
        Memory<byte> k = from;
        it.Seek(in k);
        long bytes = 0;
        for (var i = 0; i < count && it.Next(); i++) bytes += it.CurrentKey.Length + it.CurrentValue.Length;
        return bytes;
    }

    public void Checkpoint(FileStream destination, string scratch)
    {
        using var it = _tree.CreateIterator(IteratorType.Snapshot, false, false);
        Span<byte> len = stackalloc byte[4];
        while (it.Next())
        {
            BinaryPrimitives.WriteInt32BigEndian(len, it.CurrentKey.Length);
            destination.Write(len);
            destination.Write(it.CurrentKey.Span);
            BinaryPrimitives.WriteInt32BigEndian(len, it.CurrentValue.Length);
            destination.Write(len);
            destination.Write(it.CurrentValue.Span);
        }
    }

    public void Dispose()
    {
        _maintainer.EvictToDisk();
        _maintainer.WaitForBackgroundThreads();
        _maintainer.Dispose();
        _tree.Dispose();
    }
}
