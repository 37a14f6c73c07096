using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.IO;
using Raft.Shell.Snap;
using Raft.Shell.Wal;
using WalLog = Raft.Shell.Wal.Wal;

namespace Raft.Shell.Storage;

/// <summary>What a restarting node recovers from disk.</summary>
/// <param name="Metadata">Node id and cluster id recorded in the WAL.</param>
/// <param name="HardState">The last hard state saved.</param>
/// <param name="Entries">The entries after the snapshot.</param>
/// <param name="Snapshot">The newest snapshot both on disk and recorded in the WAL; empty (index 0) when none.</param>
/// <param name="Repaired">True when a torn tail was cut off the WAL on the way.</param>
internal sealed record RestartState(WalMetadata Metadata, HardState HardState, Entry[] Entries, Snapshot Snapshot, bool Repaired);

/// <summary>
/// A member's durable storage (etcd's etcdserver.Storage): the WAL in <c>DATA/member/wal</c> and
/// snap files in <c>DATA/member/snap</c>. Calls block until the disk has what they wrote.
/// </summary>
internal sealed class NodeStorage : IDisposable
{
    private readonly IFileSystem fs;

    private NodeStorage(string dataDir, WalLog wal, Snapshotter snapshotter, IFileSystem fs)
    {
        this.fs = fs;
        DataDir = dataDir;
        Wal = wal;
        Snapshotter = snapshotter;
    }

    /// <summary>The member's data directory.</summary>
    public string DataDir { get; }

    /// <summary>The write-ahead log.</summary>
    public WalLog Wal { get; }

    /// <summary>The snap files.</summary>
    public Snapshotter Snapshotter { get; }

    /// <summary>The member directory of a data directory: everything the member keeps (etcd's layout).</summary>
    public static string MemberDir(string dataDir) => Path.Combine(dataDir, "member");

    /// <summary>The WAL directory of a data directory.</summary>
    public static string WalDir(string dataDir) => Path.Combine(MemberDir(dataDir), "wal");

    /// <summary>The snap directory of a data directory.</summary>
    public static string SnapDir(string dataDir) => Path.Combine(MemberDir(dataDir), "snap");

    /// <summary>
    /// Where a persistent state machine's checkpoint received with the snapshot at
    /// <paramref name="index"/> is kept until installed (etcd's <c>%016x.snap.db</c>).
    /// </summary>
    public static string CheckpointPath(string dataDir, ulong index) => Path.Combine(SnapDir(dataDir), $"{index:x16}.snap.db");

    /// <summary>True when the data directory already holds a WAL (the member has run before).</summary>
    public static bool Exists(string dataDir) => WalNames.Exist(WalDir(dataDir));

    /// <summary>True when the data directory, on the file system of <paramref name="options"/>, already holds a WAL.</summary>
    internal static bool Exists(string dataDir, WalOptions options) => WalNames.Exist(options.FileSystem, WalDir(dataDir));

    /// <summary>Creates the storage of a new member.</summary>
    /// <exception cref="WalException">AlreadyExists.</exception>
    public static NodeStorage Create(string dataDir, WalMetadata metadata, WalOptions? options = null)
    {
        options ??= new WalOptions();
        var fs = options.FileSystem;
        fs.CreateDirectory(SnapDir(dataDir));
        // The member directory's name must be durable, or a power cut can take the whole member
        // away with it; the WAL's creation fsyncs the member directory (holding snap and wal).
        fs.FsyncDirectory(Path.GetFullPath(dataDir));
        var wal = WalLog.Create(WalDir(dataDir), metadata.Marshal(), options);
        return new NodeStorage(dataDir, wal, new Snapshotter(SnapDir(dataDir), options.Logger, fs), fs);
    }

    /// <summary>
    /// Opens the storage of a member that has run before: loads the newest snapshot the WAL also
    /// records, opens the WAL there and reads it; a torn tail is repaired once and the WAL read
    /// again (etcd's readWAL). The storage is then ready to append.
    /// </summary>
    /// <exception cref="WalException">The WAL is corrupt beyond a torn tail, or cannot be opened.</exception>
    public static (NodeStorage Storage, RestartState State) Restart(string dataDir, WalOptions? options = null)
    {
        options ??= new WalOptions();
        var log = options.Logger;
        var fs = options.FileSystem;
        var walDir = WalDir(dataDir);
        fs.CreateDirectory(SnapDir(dataDir));
        var snapshotter = new Snapshotter(SnapDir(dataDir), log, fs);
        var snapshot = snapshotter.LoadNewestAvailable(WalInspect.ValidSnapshotEntries(fs, walDir)) ?? CoreAdapter.EmptySnapshot;
        var walSnap = CoreAdapter.IsEmpty(snapshot) ? WalSnapshot.Empty : WalSnapshot.Of(snapshot);

        var repaired = false;
        while (true)
        {
            var wal = WalLog.Open(walDir, walSnap, options);
            try
            {
                var contents = wal.ReadAll();
                var state = new RestartState(WalMetadata.Unmarshal(contents.Metadata), contents.State, contents.Entries, snapshot, repaired);
                return (new NodeStorage(dataDir, wal, snapshotter, fs), state);
            }
            catch (WalException ex) when (ex.Kind == WalErrorKind.UnexpectedEof && !repaired)
            {
                wal.Close();
                log.LogWarning(ex, "WAL ends in a torn write; repairing");
                if (!WalRepair.Repair(fs, walDir, log)) throw;
                repaired = true;
            }
            catch
            {
                wal.Close();
                throw;
            }
        }
    }

    /// <summary>Appends entries and the hard state; durable on return when <paramref name="mustSync"/> (raft's MustSync) says so.</summary>
    public void Save(HardState hardState, Entry[] entries, bool mustSync = true) => Wal.Save(hardState, entries, mustSync);

    /// <summary>
    /// Saves a snapshot: the snap file first (fsynced), then the WAL's snapshot record (fsynced),
    /// so that no WAL record ever points at a missing file.
    /// </summary>
    public void SaveSnap(Snapshot snapshot)
    {
        Snapshotter.SaveSnap(snapshot);
        Wal.SaveSnapshot(WalSnapshot.Of(snapshot));
    }

    /// <summary>fdatasyncs the WAL.</summary>
    public void Sync() => Wal.Sync();

    /// <summary>Releases WAL segments and state-machine snapshot files older than <paramref name="snapshot"/>.</summary>
    public void Release(Snapshot snapshot)
    {
        Wal.ReleaseLockTo(snapshot.Metadata.Index);
        Snapshotter.ReleaseSnapDBs(snapshot);
    }

    /// <summary>Removes old WAL segments (those not locked) and snap files beyond the numbers to keep.</summary>
    public void Purge(int keepWalFiles, int keepSnapFiles)
    {
        WalInspect.Purge(fs, WalDir(DataDir), keepWalFiles);
        Snapshotter.Purge(keepSnapFiles);
    }

    /// <summary>Syncs and closes the WAL.</summary>
    public void Close() => Wal.Close();

    /// <inheritdoc cref="Close"/>
    public void Dispose() => Close();
}
