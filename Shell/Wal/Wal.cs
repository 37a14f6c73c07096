using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.IO;

namespace Raft.Shell.Wal;

/// <summary>What <see cref="Wal.ReadAll"/> found: the metadata, the last hard state, and the entries after the snapshot.</summary>
/// <param name="Metadata">The metadata record's payload.</param>
/// <param name="State">The last hard state saved (empty when none was).</param>
/// <param name="Entries">Entries after the snapshot the WAL was opened at, later duplicates having replaced earlier ones.</param>
internal sealed record WalContents(byte[] Metadata, HardState State, Entry[] Entries);

/// <summary>
/// etcd's write-ahead log, in etcd's on-disk format. A WAL is created empty or opened at a
/// snapshot; an opened WAL must be read out with <see cref="ReadAll"/> before it accepts appends.
/// Calls block on the disk: the Ready loop must not go on until what it saved is durable, and
/// fdatasync has no asynchronous form. One writer at a time; the methods take a lock anyway.
/// </summary>
internal sealed class Wal : IDisposable
{
    private static readonly TimeSpan WarnSyncDuration = TimeSpan.FromSeconds(1);

    /// <summary>How long opening waits out a lock before reporting it held (see <see cref="LockedFile"/>).</summary>
    internal static readonly TimeSpan LockWait = TimeSpan.FromSeconds(2);

    private readonly object gate = new();
    private readonly WalOptions options;
    private readonly IFileSystem fs;
    private readonly ILogger log;
    private readonly List<LockedFile> locks;
    private readonly List<Segment>? readOnlySegments;
    private byte[]? metadata;
    private HardState state = CoreAdapter.EmptyHardState;
    private WalSnapshot start;
    private WalDecoder? decoder;
    private WalEncoder? encoder;
    private FilePipeline? pipeline;
    private ulong enti;
    private bool closed;
    private WalTailPosition? tailPosition;

    private Wal(string dir, WalOptions options, List<LockedFile> locks, List<Segment>? readOnlySegments, WalSnapshot start)
    {
        Dir = dir;
        this.options = options;
        fs = options.FileSystem;
        log = options.Logger;
        this.locks = locks;
        this.readOnlySegments = readOnlySegments;
        this.start = start;
    }

    /// <summary>The WAL directory.</summary>
    public string Dir { get; private set; }

    /// <summary>Paths of the segments this WAL holds locked, oldest first; the last is the one appended to.</summary>
    public IReadOnlyList<string> LockedFiles
    {
        get
        {
            lock (gate) return locks.Select(l => l.Path).ToArray();
        }
    }

    private LockedFile? Tail => locks.Count > 0 ? locks[^1] : null;

    /// <summary>
    /// The segment appended to and how many of its bytes hold records (the rest of its preallocated
    /// length is zeros); null until the WAL can append. Read without the WAL's lock, so that a
    /// status page never waits behind an fsync of a slow disk.
    /// </summary>
    public WalTailPosition? TailPosition => Volatile.Read(ref tailPosition);

    /// <summary>
    /// Creates a WAL in <paramref name="dir"/>, ready for appending: the first segment with a crc
    /// record, the metadata and an empty snapshot record, written in a temporary directory, fsynced,
    /// renamed into place, and the parent directory fsynced.
    /// </summary>
    /// <exception cref="WalException">AlreadyExists when <paramref name="dir"/> already holds segments.</exception>
    public static Wal Create(string dir, byte[] metadata, WalOptions? options = null)
    {
        options ??= new WalOptions();
        var fs = options.FileSystem;
        dir = Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar);
        if (WalNames.Exist(fs, dir)) throw new WalException(WalErrorKind.AlreadyExists, "a WAL already exists", dir);

        // Built beside the final directory and renamed, so that creation appears atomic.
        var tmp = dir + ".tmp";
        if (fs.DirectoryExists(tmp)) fs.DeleteDirectory(tmp);
        fs.CreateDirectory(tmp, ownerOnly: true);
        Wal? w = null;
        try
        {
            var first = Path.Combine(tmp, WalNames.Format(0, 0));
            var f = LockedFile.TryOpen(fs, first, FileMode.CreateNew, FileAccess.ReadWrite)
                ?? throw new WalException(WalErrorKind.Locked, "first segment is locked", first);
            w = new Wal(dir, options, [f], null, WalSnapshot.Empty) { metadata = metadata };
            f.Preallocate(options.SegmentSizeBytes);
            w.encoder = new WalEncoder(f, 0, 0);
            w.encoder.Encode(RecordType.Crc, [], hasData: false);
            w.encoder.Encode(RecordType.Metadata, metadata, hasData: true);
            w.SaveSnapshot(WalSnapshot.Empty);

            // The segment's name in the temporary directory must be durable before the directory
            // is renamed into place: a durable rename of a directory whose entries are not leaves
            // an empty WAL directory after a power cut.
            fs.FsyncDirectory(tmp);
            // Keep the lock while renaming; a released lock could be taken by someone else meanwhile.
            if (fs.DirectoryExists(dir)) fs.DeleteDirectory(dir);
            fs.MoveDirectory(tmp, dir);
            f.Relocated(Path.Combine(dir, WalNames.Format(0, 0)));
            fs.FsyncDirectory(Path.GetDirectoryName(dir) ?? "/");
            w.pipeline = new FilePipeline(fs, dir, options.SegmentSizeBytes);
            return w;
        }
        catch
        {
            w?.CloseQuietly();
            if (fs.DirectoryExists(tmp)) fs.DeleteDirectory(tmp);
            throw;
        }
    }

    /// <summary>
    /// Opens the WAL at <paramref name="snap"/> for reading and then appending: locks every segment
    /// from the one holding the snapshot's index on. The first record <see cref="ReadAll"/> returns
    /// is the one after the snapshot, which must have been saved to this WAL.
    /// </summary>
    /// <exception cref="WalException">FileNotFound, or Locked when another open holds a segment.</exception>
    public static Wal Open(string dir, WalSnapshot snap, WalOptions? options = null)
    {
        options ??= new WalOptions();
        var fs = options.FileSystem;
        dir = Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar);
        var names = WalNames.Read(fs, dir);
        var at = WalNames.SearchIndex(names, snap.Index);
        if (at < 0 || !WalNames.IsValidSeq(names[at..]))
            throw new WalException(WalErrorKind.FileNotFound, $"no valid segment sequence covers index {snap.Index}", dir);
        var locks = new List<LockedFile>();
        try
        {
            foreach (var name in names[at..])
            {
                var path = Path.Combine(dir, name);
                locks.Add(LockedFile.TryOpen(fs, path, FileMode.Open, FileAccess.ReadWrite, LockWait)
                    ?? throw new WalException(WalErrorKind.Locked, "segment is locked by another open of this WAL", path));
            }
        }
        catch
        {
            foreach (var l in locks) l.Dispose();
            throw;
        }
        var w = new Wal(dir, options, locks, null, snap);
        w.decoder = new WalDecoder(locks.Select(l => new Segment(l.Path, l.File, l.Length)).ToList());
        w.pipeline = new FilePipeline(fs, dir, options.SegmentSizeBytes);
        return w;
    }

    /// <summary>
    /// Opens the WAL at <paramref name="snap"/> for reading only, without locks (etcd's OpenForRead):
    /// a torn tail is tolerated, and the WAL cannot be appended to.
    /// </summary>
    /// <exception cref="WalException">FileNotFound.</exception>
    public static Wal OpenForRead(string dir, WalSnapshot snap, WalOptions? options = null)
    {
        options ??= new WalOptions();
        dir = Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar);
        var segments = WalReader.OpenSegments(options.FileSystem, dir, snap.Index);
        return new Wal(dir, options, [], segments, snap) { decoder = new WalDecoder(segments) };
    }

    /// <summary>
    /// Reads every record after the snapshot the WAL was opened at (etcd's ReadAll): the metadata,
    /// the last hard state and the entries, a later entry replacing earlier ones from its index on.
    /// Opened for writing, the whole WAL must read cleanly, and the WAL is then ready to append.
    /// </summary>
    /// <exception cref="WalException">
    /// UnexpectedEof (a torn tail: repair, then open again), CrcMismatch, Corrupt, MetadataConflict,
    /// SnapshotMismatch, SliceOutOfRange (a gap in the entries), SnapshotNotFound.
    /// </exception>
    public WalContents ReadAll()
    {
        lock (gate)
        {
            var d = decoder ?? throw new InvalidOperationException("wal: ReadAll may be called once, on an opened WAL");
            byte[]? meta = null;
            var st = CoreAdapter.EmptyHardState;
            var ents = new List<Entry>();
            var match = false;
            DecodeOutcome outcome;
            while ((outcome = d.NextInPlace(out var rec)) == DecodeOutcome.Record)
            {
                switch (rec.Type)
                {
                    case RecordType.Entry:
                        var e = Decode(rec, RaftpbMarshal.UnmarshalEntry);
                        if (e.Index > start.Index)
                        {
                            var up = e.Index - start.Index - 1;
                            if (up > (ulong)ents.Count)
                                throw new WalException(WalErrorKind.SliceOutOfRange,
                                    $"entry {e.Index} leaves a gap after entry {start.Index + (ulong)ents.Count}", rec.File, rec.Offset);
                            // A later entry at an index overwrites that index and everything after it.
                            ents.RemoveRange((int)up, ents.Count - (int)up);
                            ents.Add(e);
                        }
                        else
                        {
                            // An entry at or before the snapshot was written after the entries read
                            // so far: the log was cut back to it, so they are gone too. etcd's ReadAll
                            // skips it and keeps them, and a restart then holds stale entries of an
                            // older term after the snapshot (found by the whole-node simulation, seed
                            // 6454: a vote granted on that stale last term elected a leader without
                            // committed entries, which overwrote one).
                            ents.Clear();
                        }
                        enti = e.Index;
                        break;
                    case RecordType.State:
                        st = Decode(rec, RaftpbMarshal.UnmarshalHardState);
                        break;
                    case RecordType.Metadata:
                        if (meta is not null && !meta.AsSpan().SequenceEqual(rec.Data))
                            throw new WalException(WalErrorKind.MetadataConflict, "conflicting metadata found", rec.File, rec.Offset);
                        meta ??= rec.Data.ToArray();
                        break;
                    case RecordType.Crc:
                        break;
                    case RecordType.Snapshot:
                        var snap = Decode(rec, WalSnapshot.Unmarshal);
                        if (snap.Index == start.Index)
                        {
                            if (snap.Term != start.Term)
                                throw new WalException(WalErrorKind.SnapshotMismatch,
                                    $"snapshot mismatch: index {snap.Index} has term {snap.Term}, expected {start.Term}", rec.File, rec.Offset);
                            match = true;
                        }
                        break;
                    default:
                        throw new WalException(WalErrorKind.Corrupt, $"unexpected block type {rec.Type}", rec.File, rec.Offset);
                }
            }

            var tail = Tail;
            if (tail is not null)
            {
                if (outcome == DecodeOutcome.Torn)
                    throw new WalException(WalErrorKind.UnexpectedEof, "torn write at the end of the log", d.CurrentSegment?.Path, d.LastOffset);
                // Whatever follows the end may be the unsynced rest of a torn write; zero it so that
                // appending over part of it cannot leave a record that looks whole.
                var length = tail.Length;
                tail.SetLength(d.LastOffset);
                tail.Preallocate(length);
            }
            if (!match)
                throw new WalException(WalErrorKind.SnapshotNotFound,
                    $"snapshot not found: no snapshot record at index {start.Index} term {start.Term}", Dir);

            metadata = meta;
            state = st;
            start = WalSnapshot.Empty;
            if (readOnlySegments is not null)
                foreach (var s in readOnlySegments) s.File.Dispose();
            if (tail is not null) encoder = new WalEncoder(tail, d.LastCrc, d.LastOffset);
            TrackTail();
            decoder = null;
            return new WalContents(meta ?? [], st, ents.ToArray());
        }
    }

    private static T Decode<T>(in RecordView rec, Func<ReadOnlySpan<byte>, T> parse)
    {
        try
        {
            return parse(rec.Data);
        }
        catch (WireFormatException ex)
        {
            throw new WalException(WalErrorKind.Corrupt, $"{RecordType.Name(rec.Type)} record: {ex.Message}", rec.File, rec.Offset, ex);
        }
    }

    /// <summary>
    /// Appends entries, then the hard state if it is not empty (etcd's Save). fdatasyncs when
    /// <paramref name="mustSync"/> says so: raft decides that (the Ready's MustSync, carried by the
    /// planner's Save), not the WAL; a caller without a Ready syncs. Cuts a new segment once the
    /// current one has passed the segment size.
    /// </summary>
    public void Save(HardState st, Entry[] ents, bool mustSync = true)
    {
        lock (gate)
        {
            var enc = Writable();
            if (CoreAdapter.IsEmpty(st) && ents.Length == 0) return;
            foreach (var e in ents)
            {
                enc.EncodeEntry(e);
                enti = e.Index;
            }
            SaveState(st);
            if (enc.Offset < options.SegmentSizeBytes)
            {
                // Without a sync the records still go to the OS: a follower applies what a
                // commit-only hard state says, and a process killed with it in our buffer would
                // restart behind what it had already applied and answered.
                if (mustSync) SyncLocked();
                else enc.Flush();
                TrackTail();
                return;
            }
            Cut();
            TrackTail();
        }
    }

    /// <summary>
    /// Appends a snapshot record and fdatasyncs. A snapshot past index 0 must carry its ConfState
    /// (etcd 3.5's ValidateSnapshotForWrite).
    /// </summary>
    public void SaveSnapshot(WalSnapshot snap)
    {
        if (snap.ConfState is null && snap.Index > 0)
            throw new ArgumentException($"saved (not-initial) snapshot is missing ConfState: index {snap.Index} term {snap.Term}", nameof(snap));
        lock (gate)
        {
            Writable().Encode(RecordType.Snapshot, snap.Marshal(), hasData: true);
            if (enti < snap.Index) enti = snap.Index;
            SyncLocked();
            TrackTail();
        }
    }

    /// <summary>Writes out buffered records and fdatasyncs the current segment.</summary>
    public void Sync()
    {
        lock (gate) SyncLocked();
    }

    /// <summary>
    /// Releases the locks on segments that only hold entries before <paramref name="index"/>,
    /// keeping the newest such segment (etcd's ReleaseLockTo), so that purging can remove them.
    /// </summary>
    public void ReleaseLockTo(ulong index)
    {
        lock (gate)
        {
            if (locks.Count == 0) return;
            var smaller = locks.Count - 1;
            for (var i = 0; i < locks.Count; i++)
            {
                WalNames.TryParse(Path.GetFileName(locks[i].Path), out _, out var lockIndex);
                if (lockIndex >= index)
                {
                    smaller = i - 1;
                    break;
                }
            }
            if (smaller <= 0) return;
            for (var i = 0; i < smaller; i++) locks[i].Dispose();
            locks.RemoveRange(0, smaller);
        }
    }

    /// <summary>Syncs and closes the WAL, releasing every lock.</summary>
    public void Close()
    {
        lock (gate)
        {
            if (closed) return;
            closed = true;
            pipeline?.Dispose();
            pipeline = null;
            try
            {
                if (Tail is not null) SyncLocked();
            }
            finally
            {
                foreach (var l in locks) l.Dispose();
                locks.Clear();
                if (readOnlySegments is not null)
                    foreach (var s in readOnlySegments) s.File.Dispose();
            }
        }
    }

    /// <inheritdoc cref="Close"/>
    public void Dispose() => Close();

    private void CloseQuietly()
    {
        try
        {
            Close();
        }
        catch (Exception ex) when (ex is IOException or WalException)
        {
            log.LogWarning(ex, "failed to close WAL during cleanup");
        }
    }

    private WalEncoder Writable()
    {
        if (closed) throw new ObjectDisposedException(nameof(Wal));
        return encoder ?? throw new InvalidOperationException(
            readOnlySegments is not null ? "wal: opened for reading only" : "wal: read out the WAL with ReadAll before appending");
    }

    private void SaveState(HardState st)
    {
        if (CoreAdapter.IsEmpty(st)) return;
        state = st;
        Writable().Encode(RecordType.State, RaftpbMarshal.Marshal(st), hasData: true);
    }

    // Called with the lock held, after every append.
    private void TrackTail()
    {
        if (encoder is not null && Tail is { } tail)
            Volatile.Write(ref tailPosition, new WalTailPosition(Path.GetFileName(tail.Path), encoder.Offset));
    }

    private void SyncLocked()
    {
        encoder?.Flush();
        if (options.UnsafeNoFsync || Tail is not { } tail) return;
        var sw = Stopwatch.StartNew();
        tail.Fdatasync();
        if (sw.Elapsed > WarnSyncDuration)
            log.LogWarning("slow fdatasync took {Took}, expected at most {Expected}", sw.Elapsed, WarnSyncDuration);
    }

    // Closes the full segment at its written length and continues in a fresh, preallocated one
    // that opens with the running CRC, the metadata and the last hard state.
    private void Cut()
    {
        var enc = Writable();
        var tail = Tail!;
        enc.Flush();
        tail.SetLength(enc.Offset);
        SyncLocked();

        WalNames.TryParse(Path.GetFileName(tail.Path), out var seq, out _);
        var fpath = Path.Combine(Dir, WalNames.Format(seq + 1, enti + 1));
        var newTail = (pipeline ?? throw new InvalidOperationException("wal: no segment pipeline")).Open();
        locks.Add(newTail);
        var prevCrc = enc.Crc;
        encoder = new WalEncoder(newTail, prevCrc, 0);
        encoder.Encode(RecordType.Crc, [], hasData: false);
        encoder.Encode(RecordType.Metadata, metadata ?? [], hasData: true);
        SaveState(state);
        SyncLocked();

        // The header is durable before the segment gets its real name.
        newTail.MoveTo(fpath);
        fs.FsyncDirectory(Dir);
        log.LogInformation("created a new WAL segment {Path}", fpath);
    }
}
