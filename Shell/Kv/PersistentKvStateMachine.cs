using System.Diagnostics;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Raft.Interop;
using Raft.Kv.Backend;

namespace Raft.Kv;

/// <summary>
/// The node's view of a <see cref="KvStateMachine"/> whose store is a database in a directory
/// (<see cref="KvBackends.Open"/>): a persistent state machine. The node replays only the entries
/// after the store's committed consistent index, has the store commit before a raft snapshot, sends
/// a lagging follower a checkpoint of the database, and the follower installs it in place.
/// </summary>
internal sealed class PersistentKvStateMachine : IPersistentStateMachine
{
    private readonly string _directory;
    private readonly bool _fileCheckpoints;
    private readonly ILogger? _log;

    /// <param name="machine">The key-value machine.</param>
    /// <param name="directory">The store's directory.</param>
    /// <param name="fileCheckpoints">Send LMDB's file as the checkpoint (else the logical dump), see <see cref="KvServiceOptions.FileCheckpoints"/>.</param>
    /// <param name="log">Where an install says how long its parts took.</param>
    public PersistentKvStateMachine(KvStateMachine machine, string directory, bool fileCheckpoints = true, ILogger? log = null)
    {
        Machine = machine;
        _directory = directory;
        _fileCheckpoints = fileCheckpoints;
        _log = log;
        DurableAppliedIndex = machine.Store.CommittedConsistentIndex;
    }

    /// <summary>The key-value machine the gateway and gRPC services read.</summary>
    public KvStateMachine Machine { get; }

    /// <inheritdoc />
    /// <remarks>The consistent index of the store's last committed batch, read when the machine is made.</remarks>
    public ulong DurableAppliedIndex { get; }

    /// <inheritdoc />
    public object? Apply(ulong index, ReadOnlyMemory<byte> command) => Machine.Apply(index, command);

    /// <inheritdoc />
    /// <remarks>etcd's ForceCommit before a snapshot, with the applied index in the same batch.</remarks>
    public void Persist(ulong appliedIndex)
    {
        var store = Machine.Store;
        if (appliedIndex > store.ConsistentIndex) store.SetConsistentIndex(appliedIndex);
        store.Commit();
    }

    /// <inheritdoc />
    /// <remarks>
    /// Commits the open batch, then starts the backend's checkpoint, whose read transaction opens
    /// before this returns: the checkpoint is the committed state at the store's consistent index,
    /// whatever is applied while it is written. Its bytes wait in a pipe for the node's send.
    /// </remarks>
    public IStateCheckpoint BeginCheckpoint()
    {
        var store = Machine.Store;
        store.Commit();
        return new Checkpoint(store.ConsistentIndex, store.Backend, _fileCheckpoints);
    }

    /// <inheritdoc />
    /// <remarks>
    /// <see cref="KvBackends.InstallCheckpointFileAsync"/> puts the received database file (or the
    /// database loaded from a received dump) in place of the store's (a crash leaves one or the
    /// other); the store is reopened on it and takes <paramref name="index"/> as its consistent
    /// index when the checkpoint's own is older. The received file goes only once that is durable:
    /// until then a restart installs it again.
    /// </remarks>
    public void InstallCheckpoint(string path, ulong index)
    {
        var started = Stopwatch.GetTimestamp();
        var bytes = new FileInfo(path).Length;
        // Local reads wait for the new store rather than fail on the disposed one.
        Machine.BeginReplace();
        Machine.Store.Dispose();
        var held = KvBackends.InstallCheckpointFileAsync(_directory, path, index, CancellationToken.None).GetAwaiter().GetResult();
        var installed = Stopwatch.GetTimestamp();
        var backend = KvBackends.Open(_directory);
        var backendOpened = Stopwatch.GetTimestamp();
        Machine.ReplaceStore(backend);
        var store = Machine.Store;
        var opened = Stopwatch.GetTimestamp();
        store.SetConsistentIndex(index);
        store.Commit();
        File.Delete(path);
        _log?.LogInformation(
            "installed the checkpoint of {Bytes} bytes at index {Held} for snapshot {Index}: database in place in {Install:F0} ms, " +
            "opened in {Backend:F0} ms, key index of {Keys} keys rebuilt in {Open:F0} ms, total {Total:F0} ms",
            bytes, held, index, Stopwatch.GetElapsedTime(started, installed).TotalMilliseconds, Stopwatch.GetElapsedTime(installed, backendOpened).TotalMilliseconds,
            store.KeyCount, Stopwatch.GetElapsedTime(backendOpened, opened).TotalMilliseconds, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    private sealed class Checkpoint : IStateCheckpoint
    {
        private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 1 << 20));
        private readonly CancellationTokenSource _cancel = new();
        private readonly Task _writing;

        public Checkpoint(ulong index, IKvBackend backend, bool file)
        {
            Index = index;
            var sink = _pipe.Writer.AsStream();
            // The backend opens its read transaction synchronously, before its first await.
            _writing = WriteAsync(backend, sink, file);
        }

        public ulong Index { get; }

        private static async Task WriteDumpAsync(IKvBackend backend, Stream sink, CancellationToken cancellationToken)
        {
            using var view = backend.OpenReader();
            await BackendCheckpoint.WriteAsync(view, sink, cancellationToken).ConfigureAwait(false);
        }

        private async Task WriteAsync(IKvBackend backend, Stream sink, bool file)
        {
            try
            {
                if (file) await backend.WriteCheckpointAsync(sink, _cancel.Token).ConfigureAwait(false);
                else await WriteDumpAsync(backend, sink, _cancel.Token).ConfigureAwait(false);
                await _pipe.Writer.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                await _pipe.Writer.CompleteAsync(ex).ConfigureAwait(false);
            }
        }

        public async Task WriteToAsync(Stream destination, CancellationToken cancellationToken)
        {
            await _pipe.Reader.CopyToAsync(destination, cancellationToken).ConfigureAwait(false);
            await _writing.ConfigureAwait(false);
        }

        public void Dispose()
        {
            _cancel.Cancel();
            _pipe.Reader.Complete();
            try
            {
                _writing.GetAwaiter().GetResult();
            }
            catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException or IOException)
            {
                // An abandoned checkpoint: its writer stops where it was.
            }
            _cancel.Dispose();
        }
    }
}
