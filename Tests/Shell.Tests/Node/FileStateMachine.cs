using System.Buffers.Binary;
using System.Text;
using Raft.Interop;
using Raft.Shell.IO;
using Raft.Shell.Wal;

namespace Raft.Shell.Tests.Node;

/// <summary>
/// A persistent state machine for node tests: a list of commands kept in one file with the index
/// of the last entry applied to it, rewritten whole on each commit (temp file, fsync, rename,
/// fsync of the directory), so the index and the data it describes become durable together. It
/// commits every <see cref="CommitEvery"/> applies (a backend's batch commit) and when the node
/// calls <see cref="Persist"/>. Its checkpoint is the committed file itself, streamed from disk.
/// </summary>
internal sealed class FileStateMachine : IPersistentStateMachine
{
    private const string StoreName = "store.dat";
    private static ReadOnlySpan<byte> Magic => "FSM1"u8;

    private readonly object _lock = new();
    private readonly string _dir;
    private List<string> _items;
    private ulong _applied;

    public FileStateMachine(string dir, int commitEvery = 1)
    {
        _dir = dir;
        CommitEvery = commitEvery;
        Directory.CreateDirectory(dir);
        (_applied, _items) = File.Exists(StorePath) ? Load(StorePath) : (0UL, []);
        DurableAppliedIndex = _applied;
    }

    /// <summary>Applies between commits; 0 commits only when the node asks (<see cref="Persist"/>).</summary>
    public int CommitEvery { get; }

    /// <summary>Held before each Apply: a slow replay, for readiness tests.</summary>
    public TimeSpan ApplyDelay { get; set; }

    /// <summary>The index the store held when opened.</summary>
    public ulong DurableAppliedIndex { get; }

    /// <summary>Indexes Apply was called with since the machine was opened.</summary>
    public List<ulong> ApplyCalls { get; } = [];

    public int Persists { get; private set; }

    public int Installs { get; private set; }

    public int CheckpointsStreamed { get; private set; }

    public string StorePath => Path.Combine(_dir, StoreName);

    public ulong AppliedIndex
    {
        get { lock (_lock) return _applied; }
    }

    public IReadOnlyList<string> Items
    {
        get { lock (_lock) return _items.ToArray(); }
    }

    public object? Apply(ulong index, ReadOnlyMemory<byte> command)
    {
        if (ApplyDelay > TimeSpan.Zero)
            Thread.Sleep(ApplyDelay);
        lock (_lock)
        {
            if (index <= _applied)
                throw new InvalidOperationException($"applied {index} at or before {_applied}, which the store holds");
            ApplyCalls.Add(index);
            _items.Add(Encoding.UTF8.GetString(command.Span));
            _applied = index;
            if (CommitEvery > 0 && ApplyCalls.Count % CommitEvery == 0)
                Commit();
            return _items.Count;
        }
    }

    public void Persist(ulong appliedIndex)
    {
        lock (_lock)
        {
            if (appliedIndex < _applied)
                throw new InvalidOperationException($"asked to persist at {appliedIndex}, behind {_applied}");
            Persists++;
            _applied = appliedIndex;
            Commit();
        }
    }

    public IStateCheckpoint BeginCheckpoint()
    {
        lock (_lock)
        {
            Commit();
            // The open handle keeps this version of the file readable after later commits rename
            // new versions over it.
            var file = new FileStream(StorePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            CheckpointsStreamed++;
            return new Checkpoint(_applied, file);
        }
    }

    public void InstallCheckpoint(string path, ulong index)
    {
        var (applied, items) = Load(path);
        if (applied > index)
            throw new InvalidOperationException($"the checkpoint holds index {applied}, past the snapshot at {index}");
        lock (_lock)
        {
            _applied = index;
            _items = items;
            // The received file holds the state; it is rewritten with the snapshot's index.
            Commit();
            File.Delete(path);
            Installs++;
        }
    }

    /// <summary>Reads a store file: what it holds and the index it holds it at. Throws on a torn file.</summary>
    public static (ulong Applied, List<string> Items) Load(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 4 + 8 + 4 + 4 || !bytes.AsSpan(0, 4).SequenceEqual(Magic))
            throw new InvalidDataException($"{path}: not a store file");
        var body = bytes.AsSpan(0, bytes.Length - 4);
        if (Crc32C.Compute(body) != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4)))
            throw new InvalidDataException($"{path}: checksum mismatch");
        var applied = BinaryPrimitives.ReadUInt64LittleEndian(body[4..]);
        var count = BinaryPrimitives.ReadInt32LittleEndian(body[12..]);
        var items = new List<string>(count);
        var at = 16;
        for (var i = 0; i < count; i++)
        {
            var len = BinaryPrimitives.ReadInt32LittleEndian(body[at..]);
            items.Add(Encoding.UTF8.GetString(body.Slice(at + 4, len)));
            at += 4 + len;
        }
        return (applied, items);
    }

    private void Commit()
    {
        using var ms = new MemoryStream();
        Span<byte> n = stackalloc byte[8];
        ms.Write(Magic);
        BinaryPrimitives.WriteUInt64LittleEndian(n, _applied);
        ms.Write(n);
        BinaryPrimitives.WriteInt32LittleEndian(n, _items.Count);
        ms.Write(n[..4]);
        foreach (var item in _items)
        {
            var b = Encoding.UTF8.GetBytes(item);
            BinaryPrimitives.WriteInt32LittleEndian(n, b.Length);
            ms.Write(n[..4]);
            ms.Write(b);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(n, Crc32C.Compute(ms.GetBuffer().AsSpan(0, (int)ms.Length)));
        ms.Write(n[..4]);
        var tmp = StorePath + ".tmp";
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            f.Write(ms.GetBuffer().AsSpan(0, (int)ms.Length));
            f.Flush(flushToDisk: true);
        }
        File.Move(tmp, StorePath, overwrite: true);
        FsyncDirectory(_dir);
    }

    private static void FsyncDirectory(string dir) => Native.FsyncDirectory(dir);

    private sealed class Checkpoint(ulong index, FileStream file) : IStateCheckpoint
    {
        public ulong Index => index;

        public async Task WriteToAsync(Stream destination, CancellationToken cancellationToken) =>
            await file.CopyToAsync(destination, 64 * 1024, cancellationToken).ConfigureAwait(false);

        public void Dispose() => file.Dispose();
    }
}
