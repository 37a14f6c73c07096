using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Raft.Shell.Tests.PowerLoss.Process;

/// <summary>What one power cut took away, as counted by <see cref="UndoLog.Cut"/>.</summary>
internal sealed record CutReport(
    int Records,
    int UnsyncedWrites,
    long UnsyncedBytes,
    int TornWrites,
    int UndoneEntries,
    int FilesTouched,
    bool StoreUnsynced,
    bool WalUnsynced,
    IReadOnlyList<string> Undone,
    IReadOnlyList<string> Skipped)
{
    public override string ToString() =>
        $"{UnsyncedWrites} unsynced writes ({UnsyncedBytes} B{(TornWrites > 0 ? $", {TornWrites} torn" : "")}) in {FilesTouched} files" +
        $"{(StoreUnsynced ? ", store pages unsynced" : "")}{(WalUnsynced ? ", WAL unsynced" : "")}, {UndoneEntries} directory entries undone" +
        (Undone.Count > 0 ? $" ({string.Join(", ", Undone.Distinct())})" : "") +
        (Skipped.Count > 0 ? $", undo steps with nothing left to undo: {string.Join(", ", Skipped)}" : "");
}

/// <summary>
/// Reads the side log that <c>plfs.c</c> kept for a process that has been SIGKILLed and takes away,
/// newest first, every change of a file or directory entry that no sync had made durable: the power
/// cut that the kill stands for. With a generator it tears instead: each 512-byte sector comes back
/// as it was after some number (from none to all) of its unsynced writes, independently of the other
/// sectors, and each file keeps either its synced length or its length at the kill.
/// </summary>
internal static class UndoLog
{
    private const uint Magic = 0x53464c50;
    private const int Sector = 512;

    private enum Kind : uint
    {
        Write = 1,
        Trunc = 2,
        Sync = 3,
        Durable = 4,
        Create = 5,
        Mkdir = 6,
        Unlink = 7,
        Rmdir = 8,
        Rename = 9,
        DirSync = 10,
        SyncAll = 11,
    }

    private readonly record struct FileId(ulong Dev, ulong Ino);

    private sealed record Rec(Kind Kind, ulong Seq, ulong[] Numbers, byte[] Bytes, string[] Paths);

    /// <summary>The records of the log, up to a record the kill cut short (whose change never began).</summary>
    private static List<Rec> Read(string logPath)
    {
        var data = File.Exists(logPath) ? File.ReadAllBytes(logPath) : [];
        var records = new List<Rec>();
        var at = 0;
        while (at + 20 <= data.Length)
        {
            var span = data.AsSpan(at);
            if (BinaryPrimitives.ReadUInt32LittleEndian(span) != Magic) throw new InvalidDataException($"{logPath}: no record at {at}");
            var kind = (Kind)BinaryPrimitives.ReadUInt32LittleEndian(span[4..]);
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[8..]);
            var seq = BinaryPrimitives.ReadUInt64LittleEndian(span[12..]);
            if (at + 20 + length + 4 > data.Length) break;
            if (BinaryPrimitives.ReadUInt32LittleEndian(span[(20 + length)..]) != Magic) throw new InvalidDataException($"{logPath}: record at {at} has no end mark");
            var payload = span.Slice(20, length);
            var numbers = kind switch
            {
                Kind.Write => 5,
                Kind.Trunc or Kind.Durable => 4,
                Kind.Sync or Kind.DirSync or Kind.Rmdir => 3,
                Kind.Create or Kind.Mkdir or Kind.Unlink or Kind.Rename => 2,
                Kind.SyncAll => 1,
                _ => throw new InvalidDataException($"{logPath}: unknown record kind {kind} at {at}"),
            };
            var n = new ulong[numbers];
            for (var i = 0; i < numbers; i++) n[i] = BinaryPrimitives.ReadUInt64LittleEndian(payload[(8 * i)..]);
            var rest = payload[(8 * numbers)..];
            var paths = kind is Kind.Create or Kind.Mkdir or Kind.Unlink or Kind.Rmdir or Kind.Rename
                ? Encoding.UTF8.GetString(rest).Split('\0')[..^1]
                : [];
            records.Add(new Rec(kind, seq, n, paths.Length > 0 ? [] : rest.ToArray(), paths));
            at += 20 + length + 4;
        }
        return records;
    }

    /// <summary>
    /// Cuts the power under <paramref name="root"/>: undoes what the process logged in
    /// <paramref name="logPath"/> and no sync covered (torn by <paramref name="tear"/> when given),
    /// then empties <paramref name="trash"/> and removes the log, ready for the next run.
    /// </summary>
    public static CutReport Cut(string root, string trash, string logPath, Random? tear)
    {
        var records = Read(logPath);
        ulong syncAll = 0;
        var synced = new Dictionary<FileId, ulong>();
        var dirSynced = new Dictionary<FileId, ulong>();
        foreach (var r in records)
        {
            if (r.Kind == Kind.SyncAll) syncAll = Math.Max(syncAll, r.Numbers[0]);
            if (r.Kind is Kind.Sync or Kind.DirSync)
            {
                var map = r.Kind == Kind.Sync ? synced : dirSynced;
                var id = new FileId(r.Numbers[0], r.Numbers[1]);
                map[id] = Math.Max(map.GetValueOrDefault(id), r.Numbers[2]);
            }
        }

        // Contents first: files are found by inode, so renames (undone below) do not matter.
        var paths = Inodes(root).Concat(Inodes(trash)).GroupBy(p => p.Id).ToDictionary(g => g.Key, g => g.First().Path);
        int unsynced = 0, torn = 0, files = 0;
        long unsyncedBytes = 0;
        bool storeUnsynced = false, walUnsynced = false;
        foreach (var group in records.Where(r => r.Kind is Kind.Write or Kind.Trunc or Kind.Durable).GroupBy(r => new FileId(r.Numbers[0], r.Numbers[1])))
        {
            var covered = Math.Max(syncAll, synced.GetValueOrDefault(group.Key));
            var changes = group.Where(r => r.Kind != Kind.Durable && r.Seq >= covered).OrderBy(r => r.Seq).ToList();
            if (changes.Count == 0 || !paths.TryGetValue(group.Key, out var path)) continue;
            var durable = group.Where(r => r.Kind == Kind.Durable).ToList();
            // A write through an O_DSYNC descriptor was durable when it returned (LMDB's meta pages).
            changes.RemoveAll(c => c.Kind == Kind.Write && durable.Any(d => d.Seq > c.Seq && d.Numbers[2] <= c.Numbers[2] && d.Numbers[2] + d.Numbers[3] >= c.Numbers[2] + c.Numbers[3]));
            if (changes.Count == 0) continue;
            files++;
            var writes = changes.Where(c => c.Kind == Kind.Write).ToList();
            unsynced += writes.Count;
            unsyncedBytes += writes.Sum(w => (long)w.Numbers[3]);
            var name = Path.GetFileName(path);
            storeUnsynced |= name == "data.mdb" && writes.Count > 0;
            walUnsynced |= name.EndsWith(".wal", StringComparison.Ordinal) && writes.Count > 0;
            torn += UndoContents(path, changes, durable, tear);
        }

        // Then directory entries, newest first, where no fsync of the directory came after.
        var undone = new List<string>();
        var skipped = new List<string>();
        foreach (var r in records.Where(r => r.Kind is Kind.Create or Kind.Mkdir or Kind.Unlink or Kind.Rmdir or Kind.Rename).OrderByDescending(r => r.Seq))
        {
            var dir = new FileId(r.Numbers[0], r.Numbers[1]);
            if (r.Seq < Math.Max(syncAll, dirSynced.GetValueOrDefault(dir))) continue;
            try
            {
                if (UndoEntry(r)) undone.Add($"{r.Kind.ToString().ToLowerInvariant()} {Path.GetRelativePath(root, r.Paths[0])}");
                else skipped.Add($"{r.Kind.ToString().ToLowerInvariant()} {string.Join(" -> ", r.Paths.Where(p => p.Length > 0).Select(p => Path.GetRelativePath(root, p)))}");
            }
            catch (IOException ex)
            {
                skipped.Add($"{r.Kind.ToString().ToLowerInvariant()} {string.Join(" -> ", r.Paths)}: {ex.Message}");
            }
        }

        foreach (var f in Directory.EnumerateFileSystemEntries(trash))
            File.Delete(f);
        File.Delete(logPath);
        return new CutReport(records.Count, unsynced, unsyncedBytes, torn, undone.Count, files, storeUnsynced, walUnsynced, undone, skipped);
    }

    /// <summary>Puts back the old bytes and length of one file; returns how many writes were torn (kept in part).</summary>
    private static int UndoContents(string path, List<Rec> changes, List<Rec> durable, Random? tear)
    {
        // For each sector, the unsynced writes that touched it (oldest first) and how many of them survive.
        var bySector = new Dictionary<long, List<ulong>>();
        foreach (var w in changes.Where(c => c.Kind == Kind.Write && c.Numbers[3] > 0))
            for (var s = (long)w.Numbers[2] / Sector; s <= ((long)w.Numbers[2] + (long)w.Numbers[3] - 1) / Sector; s++)
            {
                if (!bySector.TryGetValue(s, out var list)) bySector[s] = list = [];
                list.Add(w.Seq);
            }
        var keptUpTo = bySector.ToDictionary(kv => kv.Key, kv => tear is null ? 0 : tear.Next(kv.Value.Count + 1));
        var tornWrites = 0;

        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        var sizeAtKill = file.Length;
        foreach (var c in Enumerable.Reverse(changes))
        {
            if (c.Kind == Kind.Trunc)
            {
                // A shrink dropped bytes: they come back (the length is decided below).
                ulong newSize = c.Numbers[2], oldSize = c.Numbers[3];
                if (newSize < oldSize) Restore(file, (long)newSize, c.Bytes, 0, (long)(oldSize - newSize), (long)oldSize, c.Seq, durable);
                continue;
            }
            long off = (long)c.Numbers[2], len = (long)c.Numbers[3], old = (long)c.Numbers[4];
            bool keptSome = false, lostSome = false;
            for (var s = off / Sector; len > 0 && s <= (off + len - 1) / Sector; s++)
            {
                var index = bySector[s].IndexOf(c.Seq);
                if (index < keptUpTo[s])
                {
                    keptSome = true;
                    continue;
                }
                lostSome = true;
                var from = Math.Max(off, s * Sector);
                var to = Math.Min(off + len, (s + 1) * Sector);
                Restore(file, from, c.Bytes, from - off, to - from, old, c.Seq, durable);
            }
            if (keptSome && lostSome) tornWrites++;
        }

        // The length: as last synced (the oldest unsynced change's old length), unless bytes written
        // durably since reach further; a torn cut may instead keep the length the file had at the kill.
        var first = changes[0];
        var synced = (long)(first.Kind == Kind.Write ? first.Numbers[4] : first.Numbers[3]);
        foreach (var d in durable.Where(d => d.Seq > first.Seq))
            synced = Math.Max(synced, (long)(d.Numbers[2] + d.Numbers[3]));
        var length = tear is not null && tear.Next(2) == 0 ? sizeAtKill : synced;
        if (length != sizeAtKill) file.SetLength(length);
        return tornWrites;
    }

    /// <summary>
    /// Writes back the old bytes of [from, from+count) (zeros past the old length <paramref name="oldSize"/>),
    /// except where a durable write after <paramref name="seq"/> put bytes that the disk holds.
    /// </summary>
    private static void Restore(FileStream file, long from, byte[] oldBytes, long oldOffset, long count, long oldSize, ulong seq, List<Rec> durable)
    {
        var buffer = new byte[count];
        for (long i = 0; i < count; i++)
            buffer[i] = from + i < oldSize ? oldBytes[oldOffset + i] : (byte)0;
        var masks = durable.Where(d => d.Seq > seq).Select(d => ((long)d.Numbers[2], (long)(d.Numbers[2] + d.Numbers[3]))).ToList();
        if (masks.Count == 0)
        {
            file.Position = from;
            file.Write(buffer);
            return;
        }
        long at = 0;
        while (at < count)
        {
            var masked = masks.Any(m => from + at >= m.Item1 && from + at < m.Item2);
            var end = at;
            while (end < count && masks.Any(m => from + end >= m.Item1 && from + end < m.Item2) == masked) end++;
            if (!masked)
            {
                file.Position = from + at;
                file.Write(buffer, (int)at, (int)(end - at));
            }
            at = end;
        }
    }

    /// <summary>Undoes one change of a directory entry; false when nothing is left to undo (a later durable change removed it, or its directory).</summary>
    private static bool UndoEntry(Rec r)
    {
        switch (r.Kind)
        {
            case Kind.Create:
                if (!File.Exists(r.Paths[0])) return false;
                File.Delete(r.Paths[0]);
                return true;
            case Kind.Mkdir:
                if (!Directory.Exists(r.Paths[0])) return false;
                Directory.Delete(r.Paths[0], recursive: true);
                return true;
            case Kind.Rmdir:
                Directory.CreateDirectory(r.Paths[0]);
                return true;
            case Kind.Unlink:
                if (r.Paths[1].Length == 0 || !File.Exists(r.Paths[1]) || !Directory.Exists(Path.GetDirectoryName(r.Paths[0]))) return false;
                File.Move(r.Paths[1], r.Paths[0], overwrite: true);
                return true;
            case Kind.Rename:
                string src = r.Paths[0], dst = r.Paths[1], replaced = r.Paths[2];
                if (!Directory.Exists(Path.GetDirectoryName(src))) return false;
                if (Directory.Exists(dst)) Directory.Move(dst, src);
                else if (File.Exists(dst)) File.Move(dst, src, overwrite: true);
                else return false;
                if (replaced.Length > 0 && File.Exists(replaced)) File.Move(replaced, dst);
                return true;
            default:
                throw new InvalidOperationException(r.Kind.ToString());
        }
    }

    private static IEnumerable<(FileId Id, string Path)> Inodes(string dir) =>
        Directory.Exists(dir)
            ? Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Select(p => (Stat(p), p))
            : [];

    private static FileId Stat(string path)
    {
        // x86-64 and arm64 glibc: st_dev then st_ino, 8 bytes each, at the start of struct stat.
        var buffer = new byte[256];
        if (stat(path, buffer) != 0) throw new IOException($"stat {path}: errno {Marshal.GetLastPInvokeError()}");
        return new FileId(BinaryPrimitives.ReadUInt64LittleEndian(buffer), BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(8)));
    }

    [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi)]
    private static extern int stat(string path, byte[] buffer);
}
