using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.IO;

namespace Raft.Shell.Wal;

/// <summary>Read-only checks over a WAL directory, and purging of old segments.</summary>
internal static class WalInspect
{
    /// <summary>
    /// The snapshot records whose index is at most the last saved commit index (etcd's
    /// ValidSnapshotEntries): the snapshots a restart may load.
    /// </summary>
    /// <exception cref="WalException">The WAL is corrupt.</exception>
    public static IReadOnlyList<WalSnapshot> ValidSnapshotEntries(string dir) => ValidSnapshotEntries(NativeFileSystem.Instance, dir);

    /// <inheritdoc cref="ValidSnapshotEntries(string)"/>
    internal static IReadOnlyList<WalSnapshot> ValidSnapshotEntries(IFileSystem fs, string dir)
    {
        var snaps = new List<WalSnapshot>();
        var state = CoreAdapter.EmptyHardState;
        using var reader = WalReader.Open(fs, dir);
        // Every record is read (the CRC chain is checked) but only snapshots and hard states are
        // kept: in place, not copied out (a restart reads the whole log here before reading it again).
        while (reader.TryReadInPlace(out var rec))
        {
            if (rec.Type == RecordType.Snapshot) snaps.Add(Parse(rec, WalSnapshot.Unmarshal));
            else if (rec.Type == RecordType.State) state = Parse(rec, RaftpbMarshal.UnmarshalHardState);
        }
        return snaps.Where(s => s.Index <= state.Commit).ToArray();
    }

    /// <summary>
    /// Reads the whole WAL from <paramref name="snap"/> on and checks it (etcd's Verify): the CRC
    /// chain, consistent metadata, known record types, and the snapshot record. A torn tail is
    /// accepted, as etcd does. Returns the last hard state.
    /// </summary>
    /// <exception cref="WalException">What is wrong, with the file and offset.</exception>
    public static HardState Verify(string dir, WalSnapshot snap)
    {
        using var w = Wal.OpenForRead(dir, snap);
        return w.ReadAll().State;
    }

    /// <summary>
    /// Removes the oldest segments while more than <paramref name="keep"/> remain, stopping at the
    /// first one an open WAL still holds locked (etcd's PurgeFile for <c>.wal</c>).
    /// </summary>
    /// <returns>The paths removed.</returns>
    public static IReadOnlyList<string> Purge(string dir, int keep) => Purge(NativeFileSystem.Instance, dir, keep);

    /// <inheritdoc cref="Purge(string, int)"/>
    internal static IReadOnlyList<string> Purge(IFileSystem fs, string dir, int keep)
    {
        var names = WalNames.Exist(fs, dir) ? WalNames.Read(fs, dir) : [];
        var removed = new List<string>();
        for (var i = 0; names.Length - i > keep; i++)
        {
            var path = Path.Combine(dir, names[i]);
            using var l = LockedFile.TryOpen(fs, path, FileMode.Open, FileAccess.ReadWrite);
            if (l is null) break;
            fs.DeleteFile(path);
            removed.Add(path);
        }
        if (removed.Count > 0) fs.FsyncDirectory(dir);
        return removed;
    }

    private static T Parse<T>(in RecordView rec, Func<ReadOnlySpan<byte>, T> parse)
    {
        try
        {
            return parse(rec.Data);
        }
        catch (WireFormatException ex)
        {
            throw new WalException(WalErrorKind.Corrupt, ex.Message, rec.File, rec.Offset, ex);
        }
    }
}
