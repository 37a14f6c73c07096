namespace Raft.Kv.Backend;

public static partial class KvBackends
{
    /// <summary>The store's directory in a member's data directory (etcd keeps its bbolt file at <c>member/snap/db</c>).</summary>
    public static string MemberStoreDirectory(string dataDir) => Path.Combine(dataDir, "member", "kv");

    /// <summary>
    /// Opens (<see cref="Open"/>) the store of the member whose data directory is
    /// <paramref name="dataDir"/>, at <see cref="MemberStoreDirectory"/>. A member without a WAL yet
    /// starts afresh: a store left from an earlier start that never wrote its WAL (or whose WAL was
    /// removed) holds entries of a log the member no longer has, so it is removed first.
    /// </summary>
    public static IKvBackend OpenMember(string dataDir)
    {
        // The node says the same when it starts; the store opens first.
        if (File.Exists(dataDir)) throw new IOException($"cannot create data directory {dataDir}: a file is in the way");
        var directory = MemberStoreDirectory(dataDir);
        var wal = Path.Combine(dataDir, "member", "wal");
        var hasWal = Directory.Exists(wal) && Directory.EnumerateFiles(wal, "*.wal").Any();
        if (!hasWal && Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        Directory.CreateDirectory(directory);
        return Open(directory);
    }
}
