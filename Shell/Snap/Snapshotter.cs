using System.Globalization;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.IO;
using Raft.Shell.Wal;

namespace Raft.Shell.Snap;

/// <summary>
/// Raft snapshots as etcd's snap files (etcd's snap.Snapshotter): <c>%016x-%016x.snap</c> (term,
/// index) holding a snappb.snapshot, whose data is the marshalled raftpb.Snapshot and whose crc is
/// the CRC-32C of that data.
/// </summary>
internal sealed class Snapshotter
{
    private const string SnapSuffix = ".snap";
    private readonly ILogger log;
    private readonly IFileSystem fs;

    /// <summary>A snapshotter over <paramref name="dir"/>, which must exist.</summary>
    public Snapshotter(string dir, ILogger? logger = null)
        : this(dir, logger, NativeFileSystem.Instance)
    {
    }

    /// <summary>A snapshotter over <paramref name="dir"/> on <paramref name="fs"/>.</summary>
    internal Snapshotter(string dir, ILogger? logger, IFileSystem fs)
    {
        Dir = dir;
        log = logger ?? NullLogger.Instance;
        this.fs = fs;
    }

    /// <summary>The snap directory.</summary>
    public string Dir { get; }

    /// <summary>The file name of a snapshot at <paramref name="term"/> and <paramref name="index"/>.</summary>
    public static string FileName(ulong term, ulong index) => $"{term:x16}-{index:x16}{SnapSuffix}";

    /// <summary>
    /// Writes the snapshot to its file and fsyncs the file and the directory; an empty snapshot
    /// is not written. A file that fails to write is removed.
    /// </summary>
    public void SaveSnap(Snapshot snapshot)
    {
        if (CoreAdapter.IsEmpty(snapshot)) return;
        var pieces = FilePieces(snapshot);
        var path = Path.Combine(Dir, FileName(snapshot.Metadata.Term, snapshot.Metadata.Index));
        try
        {
            using (var f = new DirectFileWriter(fs, path))
            {
                foreach (var piece in pieces)
                    f.Write(piece.Span);
                f.Complete();
            }
            // The WAL's snapshot record will point at this file: its name must be durable first.
            fs.FsyncDirectory(Dir);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            log.LogWarning(ex, "failed to write a snap file {Path}", path);
            try
            {
                fs.DeleteFile(path);
            }
            catch (IOException rex)
            {
                log.LogWarning(rex, "failed to remove a broken snap file {Path}", path);
            }
            throw;
        }
    }

    /// <summary>
    /// The bytes of the snap file in order: the snappb.snapshot header (crc, then the data field's
    /// tag and length), the marshalled raftpb.Snapshot's data field header, the state data itself (not
    /// copied: it can be most of the machine's memory), and the metadata field. Byte for byte what
    /// marshalling the two messages gives; the CRC runs over the pieces.
    /// </summary>
    internal static IReadOnlyList<ReadOnlyMemory<byte>> FilePieces(Snapshot snapshot)
    {
        var data = snapshot.Data;
        var meta = RaftpbConvert.ToProto(snapshot.Metadata).ToByteArray();
        // raftpb.Snapshot: data = 1 (absent when empty), metadata = 2 (always).
        var dataHeader = data.Length == 0 ? [] : Concat([0x0A], VarintBytes((ulong)data.Length));
        var metaField = Concat(Concat([0x12], VarintBytes((ulong)meta.Length)), meta);
        var innerLength = (ulong)dataHeader.Length + (ulong)data.Length + (ulong)metaField.Length;
        var crc = Crc32C.Update(Crc32C.Update(Crc32C.Compute(dataHeader), data), metaField);
        // snappb.snapshot: crc = 1, data = 2, both always written.
        var header = Concat(Concat(Concat([0x08], VarintBytes(crc)), [0x12]), VarintBytes(innerLength));
        return [header, dataHeader, data, metaField];
    }

    private static byte[] VarintBytes(ulong v)
    {
        Span<byte> b = stackalloc byte[10];
        return b[..Varint.Write(b, v)].ToArray();
    }

    private static byte[] Concat(byte[] a, byte[] b) => [.. a, .. b];

    /// <summary>The newest readable snapshot, or null when there is none.</summary>
    public Snapshot? Load() => LoadMatching(_ => true);

    /// <summary>
    /// The newest readable snapshot whose term and index the WAL also records in
    /// <paramref name="walSnaps"/>, or null (etcd's LoadNewestAvailable). Unreadable files met on
    /// the way are renamed <c>.broken</c>.
    /// </summary>
    public Snapshot? LoadNewestAvailable(IEnumerable<WalSnapshot> walSnaps)
    {
        var list = walSnaps.ToList();
        return LoadMatching(s => list.Any(w => w.Index == s.Metadata.Index && w.Term == s.Metadata.Term));
    }

    private Snapshot? LoadMatching(Func<Snapshot, bool> match)
    {
        foreach (var name in SnapNames())
        {
            var path = Path.Combine(Dir, name);
            Snapshot snap;
            try
            {
                snap = Read(fs, path);
            }
            catch (Exception ex) when (ex is SnapshotException or IOException)
            {
                log.LogWarning(ex, "failed to read a snap file {Path}", path);
                try
                {
                    fs.MoveFile(path, path + ".broken");
                    log.LogWarning("renamed to a broken snap file {Path}.broken", path);
                }
                catch (IOException rex)
                {
                    log.LogWarning(rex, "failed to rename a broken snap file {Path}", path);
                }
                continue;
            }
            if (match(snap)) return snap;
        }
        return null;
    }

    /// <summary>Reads and checks one snap file.</summary>
    /// <exception cref="SnapshotException">The file is empty, corrupt, or fails its CRC.</exception>
    public static Snapshot Read(string path) => Read(NativeFileSystem.Instance, path);

    /// <inheritdoc cref="Read(string)"/>
    internal static Snapshot Read(IFileSystem fs, string path)
    {
        var b = fs.ReadAllBytes(path);
        if (b.Length == 0) throw new SnapshotException(SnapshotErrorKind.Empty, path, "empty snapshot");
        Raft.Interop.Snappb.snapshot serialized;
        try
        {
            serialized = RaftpbMarshal.Parse(Raft.Interop.Snappb.snapshot.Parser, b, "snappb.snapshot");
        }
        catch (WireFormatException ex)
        {
            throw new SnapshotException(SnapshotErrorKind.Corrupt, path, ex.Message, ex);
        }
        if (serialized.Data.IsEmpty || serialized.Crc == 0)
            throw new SnapshotException(SnapshotErrorKind.Empty, path, "empty snapshot data");
        var crc = Crc32C.Compute(serialized.Data.Span);
        if (crc != serialized.Crc)
            throw new SnapshotException(SnapshotErrorKind.CrcMismatch, path, $"crc mismatch: file says {serialized.Crc:x8}, data gives {crc:x8}");
        try
        {
            return RaftpbMarshal.UnmarshalSnapshot(serialized.Data.Span);
        }
        catch (WireFormatException ex)
        {
            throw new SnapshotException(SnapshotErrorKind.Corrupt, path, ex.Message, ex);
        }
    }

    /// <summary>Removes <c>*.snap.db</c> files (state-machine snapshots) older than <paramref name="snap"/> (etcd's ReleaseSnapDBs).</summary>
    public void ReleaseSnapDBs(Snapshot snap)
    {
        foreach (var path in fs.ListFiles(Dir).Where(p => p.EndsWith(".snap.db", StringComparison.Ordinal)))
        {
            var hex = Path.GetFileName(path)[..^".snap.db".Length];
            if (!ulong.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var index))
            {
                log.LogError("failed to parse index from filename {Path}", path);
                continue;
            }
            if (index < snap.Metadata.Index)
            {
                log.LogInformation("found orphaned .snap.db file; deleting {Path}", path);
                fs.DeleteFile(path);
            }
        }
    }

    /// <summary>Removes the oldest snap files while more than <paramref name="keep"/> remain; returns the paths removed.</summary>
    public IReadOnlyList<string> Purge(int keep)
    {
        var names = SnapNames();
        var removed = new List<string>();
        foreach (var name in names.Skip(keep).Reverse())
        {
            var path = Path.Combine(Dir, name);
            fs.DeleteFile(path);
            removed.Add(path);
            log.LogInformation("purged {Path}", path);
        }
        return removed;
    }

    // Snap file names, newest first.
    private string[] SnapNames() =>
        fs.DirectoryExists(Dir)
            ? fs.ListFiles(Dir).Select(Path.GetFileName).OfType<string>()
                .Where(n => n.EndsWith(SnapSuffix, StringComparison.Ordinal)).OrderDescending(StringComparer.Ordinal).ToArray()
            : [];
}
