namespace Raft.Kv.Backend;

/// <summary>Opens the store's backends.</summary>
public static partial class KvBackends
{
    /// <summary>The directory inside a backend's directory where a restore builds the new database.</summary>
    internal const string RestoreStagingName = ".restore";

    /// <summary>Pairs per write transaction while a restore loads a checkpoint.</summary>
    private const int RestoreBatchPairs = 50_000;

    /// <summary>
    /// Opens the durable backend in <paramref name="directory"/> (LMDB; see the README's
    /// "Key-value store backend" for why), creating it if absent. One open per directory per process.
    /// </summary>
    public static IKvBackend Open(string directory) => LmdbBackend.Open(directory);

    /// <summary>
    /// Replaces the database in <paramref name="directory"/> with the one a checkpoint
    /// (<see cref="IKvBackend.WriteCheckpointAsync"/>: LMDB's file, <see cref="LmdbFileCheckpoint"/>;
    /// or the logical dump, <see cref="BackendCheckpoint"/>, told apart by their first bytes)
    /// describes, durably: it is built in a staging directory and synced, then its data file is
    /// renamed over the old one and the directory is synced, so a crash at any point leaves either
    /// the old database or the new one, whole. A damaged or short checkpoint throws
    /// <see cref="InvalidDataException"/> and changes nothing. The backend must not be open in this
    /// process. With <paramref name="zeroPadding"/>, zero bytes may follow a dump (a snapshot file's
    /// padding, see <c>raft snapshot restore</c>).
    /// </summary>
    public static async Task RestoreAsync(string directory, Stream checkpoint, CancellationToken cancellationToken, bool zeroPadding = false) =>
        await RestoreAsync(directory, checkpoint, ulong.MaxValue, zeroPadding, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// <see cref="RestoreAsync(string, Stream, CancellationToken, bool)"/> that refuses, before the
    /// rename, a checkpoint whose consistent index is past <paramref name="maxIndex"/>; returns the
    /// consistent index the new database holds (0 when none).
    /// </summary>
    internal static async Task<ulong> RestoreAsync(string directory, Stream checkpoint, ulong maxIndex, bool zeroPadding, CancellationToken cancellationToken)
    {
        var full = PrepareRestore(directory);
        var staging = Path.Combine(full, RestoreStagingName);
        try
        {
            LmdbFileCheckpoint.Trailer? written = null;
            var head = new byte[BackendCheckpoint.MagicBytes];
            var read = await checkpoint.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            if (read == head.Length && BackendCheckpoint.HasMagic(head))
                await LoadDumpAsync(staging, checkpoint, zeroPadding, cancellationToken).ConfigureAwait(false);
            else
            {
                // LMDB's file: received whole (and synced), then checked like a file the node received.
                Directory.CreateDirectory(staging);
                var received = Path.Combine(staging, "received");
                await LmdbFileCheckpoint.ReceiveAsync(head.AsMemory(0, read), checkpoint, received, cancellationToken).ConfigureAwait(false);
                written = LmdbFileCheckpoint.Verify(received);
                File.Move(received, Path.Combine(staging, LmdbBackend.DataFile));
            }
            return CommitRestore(staging, full, maxIndex, written);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>
    /// Installs the checkpoint in <paramref name="file"/> (received and synced, as the node keeps
    /// it) into <paramref name="directory"/> as <see cref="RestoreAsync(string, Stream, CancellationToken, bool)"/>
    /// does. LMDB's file is checked (trailer, length, CRC) where it lies, then given a second name
    /// in the staging directory (a hard link: nothing is copied; a copy where links fail), opened
    /// there as a check, and renamed over the old data file. <paramref name="file"/> itself keeps
    /// its name and content until its database is first written, so an install cut short by a
    /// crash can be done again from it. Returns the consistent index the new database holds.
    /// </summary>
    internal static async Task<ulong> InstallCheckpointFileAsync(string directory, string file, ulong maxIndex, CancellationToken cancellationToken)
    {
        var head = new byte[BackendCheckpoint.MagicBytes];
        int read;
        await using (var f = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan))
        {
            read = await f.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            if (read == head.Length && BackendCheckpoint.HasMagic(head))
            {
                f.Position = 0;
                return await RestoreAsync(directory, f, maxIndex, zeroPadding: false, cancellationToken).ConfigureAwait(false);
            }
        }
        // Checked before anything changes: a damaged file leaves the old database as it was.
        var written = LmdbFileCheckpoint.Verify(file);
        var full = PrepareRestore(directory);
        var staging = Path.Combine(full, RestoreStagingName);
        try
        {
            Directory.CreateDirectory(staging);
            var staged = Path.Combine(staging, LmdbBackend.DataFile);
            if (!Raft.Shell.IO.Native.TryHardLink(file, staged)) File.Copy(file, staged);
            return CommitRestore(staging, full, maxIndex, written);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    private static string PrepareRestore(string directory)
    {
        var full = Path.GetFullPath(directory);
        if (LmdbBackend.IsOpen(full)) throw new InvalidOperationException($"{full}: close the backend before restoring into it");
        Directory.CreateDirectory(full);
        var staging = Path.Combine(full, RestoreStagingName);
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        return full;
    }

    private static async Task LoadDumpAsync(string staging, Stream checkpoint, bool zeroPadding, CancellationToken cancellationToken)
    {
        using var target = LmdbBackend.Open(staging);
        var batch = target.BeginBatch();
        var pending = 0;
        await foreach (var (bucket, key, value) in BackendCheckpoint.ReadAsync(checkpoint, target.MaxKeyBytes, cancellationToken, zeroPadding, magicRead: true).ConfigureAwait(false))
        {
            batch.Put(bucket, key, value);
            if (++pending < RestoreBatchPairs) continue;
            batch.Commit();
            batch = target.BeginBatch();
            pending = 0;
        }
        // Reached only when the end marker, the count and the CRC all matched.
        batch.Commit();
    }

    /// <summary>
    /// Opens the staged database as a check, then puts its data file in place. <paramref name="written"/>
    /// describes LMDB's file when the checkpoint was one.
    /// </summary>
    private static ulong CommitRestore(string staging, string full, ulong maxIndex, LmdbFileCheckpoint.Trailer? written)
    {
        ulong index;
        try
        {
            using var target = LmdbBackend.Open(staging);
            using var reader = target.OpenReader();
            index = reader.Get(KvBucket.Meta, Mvcc.MvccStore.ConsistentIndexKey) is { Length: 8 } ci ? System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(ci) : 0;
        }
        catch (InvalidDataException ex) when (written is { } w)
        {
            // LMDB 0.9 and 1.x write different formats and each refuses the other's file.
            throw new InvalidDataException(
                $"the checkpoint is a database file of LMDB {w.Version} that this member's LMDB does not open: " +
                "have the leader send key-value dumps instead (raft serve --file-checkpoints=false, KvServiceOptions.FileCheckpoints), or run one LMDB build on every member", ex);
        }
        if (index > maxIndex)
            throw new InvalidDataException($"the checkpoint holds index {index}, past the snapshot at {maxIndex}");
        LmdbBackend.ReplaceDataFile(staging, full);
        return index;
    }
}
