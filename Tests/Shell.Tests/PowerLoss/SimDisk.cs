using Raft.Shell.IO;

namespace Raft.Shell.Tests.PowerLoss;

/// <summary>How a power cut treats the writes that were not synced.</summary>
public enum CutMode
{
    /// <summary>Every unsynced write is lost: only what was synced survives.</summary>
    DropAll,

    /// <summary>
    /// Each 512-byte sector written since the last sync comes back as it was at some moment since
    /// (never written back, or written back after some of the writes), chosen sector by sector, so
    /// a later sector may have reached the disk while an earlier one did not: what a disk and a
    /// page cache that write back out of order leave.
    /// </summary>
    Tear,
}

/// <summary>
/// A disk in memory under one directory (its root) that keeps, per file, what was synced and the
/// writes since, and per directory, the entries made durable by its last fsync and its entries
/// now. <see cref="PowerCut"/> gives the disk as it comes back after a power failure: file data
/// as of each file's last fsync (plus, when tearing, some sectors written since), directory
/// entries (creations, renames, removals) as of each directory's last fsync. From the cut on,
/// every call on this disk, and on the files opened on it, fails as a dead disk does.
/// </summary>
internal sealed class SimDisk : IFileSystem
{
    public const int Sector = 512;

    private readonly object gate = new();
    private readonly string root;
    private readonly SimDir rootDir;
    private bool dead;
    private Func<SimOp, bool>? cutWhen;
    private Random? cutRandom;
    private CutMode cutMode;
    private int cutUnit = Sector;

    public SimDisk(string root)
        : this(Normalize(root), new SimDir())
    {
    }

    private SimDisk(string root, SimDir rootDir)
    {
        this.root = root;
        this.rootDir = rootDir;
    }

    /// <summary>The directory this disk holds; it always exists.</summary>
    public string Root => root;

    /// <summary>
    /// Directories whose fsyncs are ignored (they return without making anything durable): a WAL
    /// or a file system that forgets them. Null ignores none.
    /// </summary>
    public Func<string, bool>? IgnoreDirectoryFsync { get; set; }

    /// <summary>How long a file sync takes (outside the disk's lock: a cut meanwhile finds the writes unsynced).</summary>
    public TimeSpan FileSyncLatency { get; set; }

    /// <summary>Whether the power was cut.</summary>
    public bool IsDead
    {
        get
        {
            lock (gate) return dead;
        }
    }

    /// <summary>The disk as it came back from a cut that <see cref="CutWhen"/> triggered; null before.</summary>
    public SimDisk? Survivor { get; private set; }

    /// <summary>Completes when <see cref="CutWhen"/> triggered a cut.</summary>
    public TaskCompletionSource Triggered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>File syncs and directory syncs done, directory syncs ignored.</summary>
    public (int FileSyncs, int DirSyncs, int DirSyncsIgnored) Syncs { get; private set; }

    /// <summary>Unsynced bytes that the cut dropped, and those it kept (tearing).</summary>
    public (long Dropped, long Kept, int FilesLosingASectorBeforeAKeptOne) CutStats { get; private set; }

    /// <summary>
    /// Cuts the power from inside the first operation that <paramref name="when"/> matches, before
    /// it takes effect: that operation fails, <see cref="Survivor"/> holds the disk after the cut
    /// and <see cref="Triggered"/> completes.
    /// </summary>
    public void CutWhen(Func<SimOp, bool> when, CutMode mode, Random random, int unit = Sector)
    {
        lock (gate)
        {
            cutWhen = when;
            cutMode = mode;
            cutRandom = random;
            cutUnit = unit;
        }
    }

    /// <summary>
    /// Cuts the power now (or returns the survivor of a cut already triggered). Tearing keeps or
    /// loses blocks of <paramref name="unit"/> bytes: the 512-byte sector, or a 4096-byte page.
    /// </summary>
    public SimDisk PowerCut(CutMode mode, Random random, int unit = Sector)
    {
        lock (gate)
        {
            if (Survivor is not null) return Survivor;
            dead = true;
            var files = new Dictionary<SimFile, SimFile>(ReferenceEqualityComparer.Instance);
            var stats = new CutStatsBuilder();
            var copy = new SimDisk(root, CopyDurable(rootDir, files, mode, random, unit, stats));
            CutStats = (stats.Dropped, stats.Kept, stats.LostBeforeKept);
            Survivor = copy;
            return copy;
        }
    }

    private sealed class CutStatsBuilder
    {
        public long Dropped;
        public long Kept;
        public int LostBeforeKept;
    }

    private static SimDir CopyDurable(SimDir dir, Dictionary<SimFile, SimFile> files, CutMode mode, Random random, int unit, CutStatsBuilder stats)
    {
        var copy = new SimDir();
        foreach (var (name, node) in dir.Durable.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            copy.Entries[name] = node switch
            {
                SimDir d => CopyDurable(d, files, mode, random, unit, stats),
                SimFile f => files.TryGetValue(f, out var done) ? done : files[f] = CopyFile(f, mode, random, unit, stats),
                _ => throw new InvalidOperationException("unknown node"),
            };
        }
        copy.Sync();
        return copy;
    }

    // Tearing: each block of `unit` bytes (a 512-byte sector, or a 4096-byte page) touched since
    // the last sync comes back as it was after some prefix of the unsynced operations, chosen for
    // each block on its own (the page cache wrote it back at some moment, or never), so a later
    // block may be new while an earlier one is old; the length comes back as after a prefix of
    // its own.
    private static SimFile CopyFile(SimFile f, CutMode mode, Random random, int unit, CutStatsBuilder stats)
    {
        var copy = new SimFile { Current = f.Durable.Clone() };
        var ops = f.Pending;
        if (ops.Count == 0 || mode == CutMode.DropAll)
        {
            stats.Dropped += ops.Sum(o => (long)(o.Data?.Length ?? 0));
            copy.Settle();
            return copy;
        }
        var sectors = new SortedSet<long>();
        var length = f.Durable.Length;
        var lengths = new long[ops.Count + 1];
        lengths[0] = length;
        for (var i = 0; i < ops.Count; i++)
        {
            var op = ops[i];
            if (op.Data is { } data)
            {
                for (var sct = op.Offset / unit; sct * unit < op.Offset + data.Length; sct++) sectors.Add(sct);
                length = Math.Max(length, op.Offset + data.Length);
            }
            else
            {
                // A cut-off part that held bytes (synced or not) comes back zeroed, or not.
                var extent = Math.Min(length, Math.Max(f.Durable.Extent, f.Current.Extent));
                for (var sct = op.Offset / unit; sct * unit < extent; sct++) sectors.Add(sct);
                length = op.Offset;
            }
            lengths[i + 1] = length;
        }
        var image = new byte[unit];
        var (lostAt, keptAt) = (long.MaxValue, -1L);
        foreach (var sct in sectors)
        {
            var start = sct * unit;
            image.AsSpan().Clear();
            f.Durable.Read(image, start);
            // Only the operations that touch this sector count as choices.
            var touching = new List<int>();
            for (var i = 0; i < ops.Count; i++)
            {
                var op = ops[i];
                if (op.Data is { } d ? op.Offset < start + unit && op.Offset + d.Length > start : op.Offset < start + unit)
                    touching.Add(i);
            }
            var upTo = random.Next(touching.Count + 1);
            for (var k = 0; k < upTo; k++)
            {
                var op = ops[touching[k]];
                if (op.Data is { } d)
                {
                    var from = Math.Max(start, op.Offset);
                    var to = Math.Min(start + unit, op.Offset + d.Length);
                    d.AsSpan((int)(from - op.Offset), (int)(to - from)).CopyTo(image.AsSpan((int)(from - start)));
                    stats.Kept += to - from;
                }
                else if (op.Offset < start + unit)
                {
                    image.AsSpan((int)Math.Max(0, op.Offset - start)).Clear();
                }
            }
            for (var k = upTo; k < touching.Count; k++)
                stats.Dropped += ops[touching[k]].Data is { } d ? Math.Min(start + unit, ops[touching[k]].Offset + d.Length) - Math.Max(start, ops[touching[k]].Offset) : 0;
            if (upTo < touching.Count) lostAt = Math.Min(lostAt, sct);
            if (upTo > 0) keptAt = Math.Max(keptAt, sct);
            copy.Current.Write(image, start);
        }
        if (keptAt > lostAt) stats.LostBeforeKept++;
        copy.Current.SetLength(lengths[random.Next(lengths.Length)]);
        copy.Settle();
        return copy;
    }

    // ----------------------------------------------------------------------------------------
    // IFileSystem

    public IDiskFile? TryOpenLocked(string path, FileMode mode, FileAccess access)
    {
        lock (gate)
        {
            Enter(SimOpKind.Open, path);
            var (dir, name) = Parent(path);
            dir.Entries.TryGetValue(name, out var node);
            if (node is SimDir) throw new UnauthorizedAccessException($"{path} is a directory");
            var file = node as SimFile;
            switch (mode)
            {
                case FileMode.Open when file is null:
                    throw new FileNotFoundException($"no file {path}", path);
                case FileMode.CreateNew when file is not null:
                    throw new IOException($"{path} already exists");
            }
            if (file?.Locked == true) return null;
            if (file is null)
            {
                file = new SimFile();
                dir.Entries[name] = file;
            }
            else if (mode is FileMode.Create or FileMode.Truncate)
            {
                file.SetLength(0);
            }
            file.Locked = true;
            return new SimHandle(this, file, path, locked: true, direct: false);
        }
    }

    public IDiskFile OpenRead(string path)
    {
        lock (gate)
        {
            Enter(SimOpKind.Open, path);
            return new SimHandle(this, File(path), path, locked: false, direct: false);
        }
    }

    public IDiskFile CreateForWrite(string path, bool tryDirect, out bool direct)
    {
        lock (gate)
        {
            Enter(SimOpKind.Open, path);
            var (dir, name) = Parent(path);
            dir.Entries.TryGetValue(name, out var node);
            if (node is SimDir) throw new UnauthorizedAccessException($"{path} is a directory");
            if (node is SimFile f) f.SetLength(0);
            else dir.Entries[name] = f = new SimFile();
            direct = tryDirect;
            return new SimHandle(this, f, path, locked: false, direct);
        }
    }

    public bool FileExists(string path)
    {
        lock (gate)
        {
            Enter(SimOpKind.Lookup, path);
            return TryResolve(path) is SimFile;
        }
    }

    public bool DirectoryExists(string path)
    {
        lock (gate)
        {
            Enter(SimOpKind.Lookup, path);
            return TryResolve(path) is SimDir;
        }
    }

    public void CreateDirectory(string path, bool ownerOnly = false)
    {
        lock (gate)
        {
            Enter(SimOpKind.CreateDirectory, path);
            var dir = rootDir;
            foreach (var part in Parts(path))
            {
                if (!dir.Entries.TryGetValue(part, out var node))
                    dir.Entries[part] = node = new SimDir();
                dir = node as SimDir ?? throw new IOException($"{part} in {path} is a file");
            }
        }
    }

    public void DeleteDirectory(string path)
    {
        lock (gate)
        {
            Enter(SimOpKind.Delete, path);
            var (dir, name) = Parent(path);
            if (!dir.Entries.TryGetValue(name, out var node) || node is not SimDir)
                throw new DirectoryNotFoundException($"no directory {path}");
            dir.Entries.Remove(name);
        }
    }

    public void MoveDirectory(string from, string to)
    {
        lock (gate)
        {
            Enter(SimOpKind.Rename, from, to);
            var (fromDir, fromName) = Parent(from);
            var (toDir, toName) = Parent(to);
            if (!fromDir.Entries.TryGetValue(fromName, out var node) || node is not SimDir)
                throw new DirectoryNotFoundException($"no directory {from}");
            if (toDir.Entries.ContainsKey(toName)) throw new IOException($"{to} already exists");
            fromDir.Entries.Remove(fromName);
            toDir.Entries[toName] = node;
        }
    }

    public void MoveFile(string from, string to)
    {
        lock (gate)
        {
            Enter(SimOpKind.Rename, from, to);
            var (fromDir, fromName) = Parent(from);
            var (toDir, toName) = Parent(to);
            if (!fromDir.Entries.TryGetValue(fromName, out var node) || node is not SimFile)
                throw new FileNotFoundException($"no file {from}", from);
            if (toDir.Entries.TryGetValue(toName, out var there) && there is SimDir)
                throw new IOException($"{to} is a directory");
            fromDir.Entries.Remove(fromName);
            toDir.Entries[toName] = node;
        }
    }

    public void DeleteFile(string path)
    {
        lock (gate)
        {
            Enter(SimOpKind.Delete, path);
            var (dir, name) = Parent(path);
            if (dir.Entries.TryGetValue(name, out var node) && node is SimFile)
                dir.Entries.Remove(name);
        }
    }

    public string[] ListFiles(string dir)
    {
        lock (gate)
        {
            Enter(SimOpKind.Lookup, dir);
            var norm = Normalize(dir);
            var d = TryResolve(norm) as SimDir ?? throw new DirectoryNotFoundException($"no directory {dir}");
            return d.Entries.Where(kv => kv.Value is SimFile).Select(kv => Path.Combine(norm, kv.Key)).ToArray();
        }
    }

    public byte[] ReadAllBytes(string path)
    {
        lock (gate)
        {
            Enter(SimOpKind.Read, path);
            var f = File(path);
            var b = new byte[f.Current.Length];
            f.Current.Read(b, 0);
            return b;
        }
    }

    public void FsyncDirectory(string path)
    {
        lock (gate)
        {
            Enter(SimOpKind.SyncDirectory, path);
            var d = TryResolve(path) as SimDir ?? throw new DirectoryNotFoundException($"no directory {path}");
            if (IgnoreDirectoryFsync?.Invoke(Normalize(path)) == true)
            {
                Syncs = Syncs with { DirSyncsIgnored = Syncs.DirSyncsIgnored + 1 };
                return;
            }
            d.Sync();
            Syncs = Syncs with { DirSyncs = Syncs.DirSyncs + 1 };
        }
    }

    // ----------------------------------------------------------------------------------------

    // Every operation starts here, under the gate: a dead disk fails, and a cut set up with
    // CutWhen happens before the operation it matches.
    private void Enter(SimOpKind kind, string path, string? to = null)
    {
        if (dead) throw new IOException("input/output error: the disk lost power");
        if (cutWhen is { } when && when(new SimOp(kind, Normalize(path), to)))
        {
            cutWhen = null;
            PowerCut(cutMode, cutRandom!, cutUnit);
            Triggered.TrySetResult();
            throw new IOException("input/output error: the disk lost power");
        }
    }

    private static string Normalize(string path) => Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar);

    private string[] Parts(string path)
    {
        var p = Normalize(path);
        if (p == root) return [];
        if (!p.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new InvalidOperationException($"{path} is outside the simulated disk at {root}");
        return p[(root.Length + 1)..].Split(Path.DirectorySeparatorChar);
    }

    private SimNode? TryResolve(string path)
    {
        SimNode node = rootDir;
        foreach (var part in Parts(path))
        {
            if (node is not SimDir d || !d.Entries.TryGetValue(part, out var next)) return null;
            node = next;
        }
        return node;
    }

    private (SimDir Dir, string Name) Parent(string path)
    {
        var parts = Parts(path);
        if (parts.Length == 0) throw new IOException($"{path} is the root of the disk");
        SimNode node = rootDir;
        foreach (var part in parts[..^1])
        {
            if (node is not SimDir d || !d.Entries.TryGetValue(part, out var next))
                throw new DirectoryNotFoundException($"no directory for {path}");
            node = next;
        }
        return (node as SimDir ?? throw new DirectoryNotFoundException($"no directory for {path}"), parts[^1]);
    }

    private SimFile File(string path) =>
        TryResolve(path) as SimFile ?? throw new FileNotFoundException($"no file {path}", path);

    private abstract class SimNode;

    private sealed class SimDir : SimNode
    {
        public Dictionary<string, SimNode> Entries { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, SimNode> Durable { get; private set; } = new(StringComparer.Ordinal);

        public void Sync() => Durable = new Dictionary<string, SimNode>(Entries, StringComparer.Ordinal);
    }

    private sealed record PendingOp(long Offset, byte[]? Data);

    private sealed class SimFile : SimNode
    {
        public SparseBytes Current { get; set; } = new();

        public SparseBytes Durable { get; private set; } = new();

        public List<PendingOp> Pending { get; } = [];

        public bool Locked { get; set; }

        public void Write(ReadOnlySpan<byte> data, long offset)
        {
            Current.Write(data, offset);
            Pending.Add(new PendingOp(offset, data.ToArray()));
        }

        public void SetLength(long length)
        {
            Current.SetLength(length);
            Pending.Add(new PendingOp(length, null));
        }

        /// <summary>After a cut: what the file holds now is what is on the disk.</summary>
        public void Settle()
        {
            Pending.Clear();
            Durable = Current.Clone();
        }

        public void Sync()
        {
            foreach (var op in Pending)
            {
                if (op.Data is null) Durable.SetLength(op.Offset);
                else Durable.Write(op.Data, op.Offset);
            }
            Pending.Clear();
        }
    }

    private sealed class SimHandle(SimDisk disk, SimFile file, string path, bool locked, bool direct) : IDiskFile
    {
        private const int DirectAlignment = 4096;
        private bool disposed;

        public long Length
        {
            get
            {
                lock (disk.gate)
                {
                    Check(SimOpKind.Read);
                    return file.Current.Length;
                }
            }
        }

        public int Read(Span<byte> buffer, long offset)
        {
            lock (disk.gate)
            {
                Check(SimOpKind.Read);
                return file.Current.Read(buffer, offset);
            }
        }

        public void Write(ReadOnlySpan<byte> data, long offset)
        {
            lock (disk.gate)
            {
                Check(SimOpKind.Write);
                // O_DIRECT refuses unaligned buffers, offsets and lengths (EINVAL).
                if (direct && (offset % DirectAlignment != 0 || data.Length % DirectAlignment != 0))
                    throw new IOException($"write {path}: invalid argument (O_DIRECT write of {data.Length} bytes at {offset})");
                file.Write(data, offset);
            }
        }

        public void SetLength(long length)
        {
            lock (disk.gate)
            {
                Check(SimOpKind.SetLength);
                file.SetLength(length);
            }
        }

        public void Preallocate(long size)
        {
            lock (disk.gate)
            {
                Check(SimOpKind.SetLength);
                if (file.Current.Length < size) file.SetLength(size);
            }
        }

        public void Fdatasync() => Fsync();

        public void Fsync()
        {
            if (disk.FileSyncLatency > TimeSpan.Zero) Thread.Sleep(disk.FileSyncLatency);
            lock (disk.gate)
            {
                Check(SimOpKind.SyncFile);
                file.Sync();
                disk.Syncs = disk.Syncs with { FileSyncs = disk.Syncs.FileSyncs + 1 };
            }
        }

        public void Dispose()
        {
            lock (disk.gate)
            {
                if (disposed) return;
                disposed = true;
                if (locked) file.Locked = false;
            }
        }

        private void Check(SimOpKind kind)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            disk.Enter(kind, path);
        }
    }
}

/// <summary>What a disk operation does.</summary>
public enum SimOpKind
{
    Open,
    Lookup,
    Read,
    Write,
    SetLength,
    SyncFile,
    SyncDirectory,
    CreateDirectory,
    Rename,
    Delete,
}

/// <summary>One operation on a <see cref="SimDisk"/>, for choosing where to cut the power.</summary>
/// <param name="Kind">What it does.</param>
/// <param name="Path">The file or directory (the source of a rename), as opened.</param>
/// <param name="To">The target of a rename.</param>
public sealed record SimOp(SimOpKind Kind, string Path, string? To);

/// <summary>File content with a length beyond what was written: what lies past the written bytes reads as zeros.</summary>
internal sealed class SparseBytes
{
    private byte[] buf = [];

    public long Length { get; private set; }

    /// <summary>How far bytes were ever stored; beyond it everything reads as zeros.</summary>
    public long Extent => Math.Min(buf.Length, Length);

    public SparseBytes Clone() => new() { buf = (byte[])buf.Clone(), Length = Length };

    public void Write(ReadOnlySpan<byte> data, long offset)
    {
        var end = offset + data.Length;
        if (end > buf.Length)
        {
            var grown = new byte[Math.Max(end, Math.Min(buf.Length * 2L, end + (1 << 20)))];
            buf.AsSpan(0, (int)Math.Min(buf.Length, Length)).CopyTo(grown);
            buf = grown;
        }
        data.CopyTo(buf.AsSpan((int)offset));
        if (end > Length) Length = end;
    }

    public void SetLength(long length)
    {
        // What a shorter length cuts off reads as zeros if the file grows again.
        if (length < Length && length < buf.Length)
            buf.AsSpan((int)length, (int)(Math.Min(buf.Length, Length) - length)).Clear();
        Length = length;
    }

    public int Read(Span<byte> dest, long offset)
    {
        if (offset >= Length) return 0;
        var n = (int)Math.Min(dest.Length, Length - offset);
        var fromBuf = (int)Math.Clamp(buf.Length - offset, 0, n);
        buf.AsSpan((int)Math.Min(offset, buf.Length), fromBuf).CopyTo(dest);
        dest[fromBuf..n].Clear();
        return n;
    }
}
