using System.IO.Pipelines;
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

    public PersistentKvStateMachine(KvStateMachine machine, string directory)
    {
        Machine = machine;
        _directory = directory;
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
        return new Checkpoint(store.ConsistentIndex, store.Backend);
    }

    /// <inheritdoc />
    /// <remarks>
    /// <see cref="KvBackends.RestoreAsync"/> loads the received dump into a new database and renames
    /// it over the store's (a crash leaves one or the other); the store is reopened on it and takes
    /// <paramref name="index"/> as its consistent index when the dump's own is older.
    /// </remarks>
    public void InstallCheckpoint(string path, ulong index)
    {
        // Local reads wait for the new store rather than fail on the disposed one.
        Machine.BeginReplace();
        Machine.Store.Dispose();
        using (var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan))
            KvBackends.RestoreAsync(_directory, file, CancellationToken.None).GetAwaiter().GetResult();
        File.Delete(path);
        Machine.ReplaceStore(KvBackends.Open(_directory));
        var store = Machine.Store;
        if (store.ConsistentIndex > index)
            throw new InvalidDataException($"the checkpoint holds index {store.ConsistentIndex}, past the snapshot at {index}");
        store.SetConsistentIndex(index);
        store.Commit();
    }

    private sealed class Checkpoint : IStateCheckpoint
    {
        private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 1 << 20));
        private readonly CancellationTokenSource _cancel = new();
        private readonly Task _writing;

        public Checkpoint(ulong index, IKvBackend backend)
        {
            Index = index;
            var sink = _pipe.Writer.AsStream();
            // The backend opens its read transaction synchronously, before its first await.
            _writing = WriteAsync(backend, sink);
        }

        public ulong Index { get; }

        private async Task WriteAsync(IKvBackend backend, Stream sink)
        {
            try
            {
                await backend.WriteCheckpointAsync(sink, _cancel.Token).ConfigureAwait(false);
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
