using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.Shell.IO;
using Raft.Shell.Storage;

namespace Raft.Shell.Node;

/// <summary>
/// Releases and purges old files after a snapshot: this class lists the directories and removes
/// files; which ones is Core's choice (Purge.plan, Purge.snapDbsOlderThan).
/// </summary>
internal static class FilePurger
{
    /// <summary>
    /// Lets the WAL's segments before <paramref name="snap"/> go (etcd's ReleaseLockTo) and removes
    /// state-machine snapshot files older than it (etcd's ReleaseSnapDBs).
    /// </summary>
    public static void Release(NodeStorage storage, Snapshot snap, ILogger log)
    {
        storage.Wal.ReleaseLockTo(snap.Metadata.Index);
        var dir = NodeStorage.SnapDir(storage.DataDir);
        foreach (var name in CoreAdapter.SnapDbsOlderThan(snap.Metadata.Index, Names(dir)))
        {
            log.LogInformation("found orphaned .snap.db file; deleting {Path}", Path.Combine(dir, name));
            File.Delete(Path.Combine(dir, name));
        }
    }

    /// <summary>
    /// Removes the WAL segments and snap files beyond the numbers to keep (0 keeps all), oldest
    /// first; a segment the WAL still holds locked, and every newer one, stays (etcd's PurgeFile).
    /// </summary>
    public static void Purge(NodeStorage storage, int maxWals, int maxSnaps, ILogger log)
    {
        var walDir = NodeStorage.WalDir(storage.DataDir);
        var snapDir = NodeStorage.SnapDir(storage.DataDir);
        var (wal, snap) = CoreAdapter.PlanPurge(maxWals, maxSnaps, Names(walDir), Names(snapDir));
        var removedWal = false;
        foreach (var name in wal)
        {
            var path = Path.Combine(walDir, name);
            using (var locked = LockedFile.TryOpen(path, FileMode.Open, FileAccess.ReadWrite))
            {
                if (locked is null)
                    break;
                File.Delete(path);
            }
            removedWal = true;
            log.LogInformation("purged {Path}", path);
        }
        if (removedWal)
            Native.FsyncDirectory(walDir);
        foreach (var name in snap)
        {
            var path = Path.Combine(snapDir, name);
            File.Delete(path);
            log.LogInformation("purged {Path}", path);
        }
    }

    private static IEnumerable<string> Names(string dir) =>
        Directory.Exists(dir) ? Directory.EnumerateFiles(dir).Select(Path.GetFileName).OfType<string>() : [];
}
