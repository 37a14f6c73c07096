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
    /// (<see cref="IKvBackend.WriteCheckpointAsync"/>) describes, durably: it is built in a staging
    /// directory and synced, then its data file is renamed over the old one and the directory is
    /// synced, so a crash at any point leaves either the old database or the new one, whole. A
    /// damaged or short checkpoint throws <see cref="InvalidDataException"/> and changes nothing.
    /// The backend must not be open in this process. With <paramref name="zeroPadding"/>, zero bytes
    /// may follow the checkpoint (a snapshot file's padding, see <c>raft snapshot restore</c>).
    /// </summary>
    public static async Task RestoreAsync(string directory, Stream checkpoint, CancellationToken cancellationToken, bool zeroPadding = false)
    {
        var full = Path.GetFullPath(directory);
        if (LmdbBackend.IsOpen(full)) throw new InvalidOperationException($"{full}: close the backend before restoring into it");
        Directory.CreateDirectory(full);
        var staging = Path.Combine(full, RestoreStagingName);
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        try
        {
            using (var target = LmdbBackend.Open(staging))
            {
                var batch = target.BeginBatch();
                var pending = 0;
                await foreach (var (bucket, key, value) in BackendCheckpoint.ReadAsync(checkpoint, target.MaxKeyBytes, cancellationToken, zeroPadding).ConfigureAwait(false))
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
            LmdbBackend.ReplaceDataFile(staging, full);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }
}
