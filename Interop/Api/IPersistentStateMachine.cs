namespace Raft.Interop;

/// <summary>
/// An <see cref="IStateMachine"/> that keeps its state in durable storage of its own (a database
/// file) together with the index of the last entry whose effect that storage holds, as etcd's
/// backend keeps its consistent index. The node then:
/// <list type="bullet">
/// <item>reads <see cref="DurableAppliedIndex"/> once when it opens the machine and replays to
/// <see cref="IStateMachine.Apply"/> only the entries after it (the snapshot's data is never
/// passed to <see cref="IStateMachine.Restore"/>);</item>
/// <item>calls <see cref="Persist"/> before it takes a raft snapshot and releases WAL segments, so
/// that nothing the WAL gives up is missing from the store;</item>
/// <item>sends a follower that lags behind the compacted log a checkpoint of the store
/// (<see cref="BeginCheckpoint"/>), streamed, and has the follower install the received file with
/// <see cref="InstallCheckpoint"/>;</item>
/// <item>takes snapshots by the snapshot-count rule alone, with no pause after a slow one (only
/// the small raft snapshot is written).</item>
/// </list>
/// <see cref="IStateMachine.TakeSnapshot"/> and <see cref="IStateMachine.Restore"/> are not called
/// for such a machine. All members are called from the node's apply loop, one call at a time,
/// except <see cref="IStateCheckpoint.WriteToAsync"/>.
/// </summary>
public interface IPersistentStateMachine : IStateMachine
{
    /// <summary>
    /// The index of the last entry whose effect the store holds durably (0 for an empty store).
    /// Read once, when the node opens the machine, before any other call. It must never be ahead
    /// of the data it describes: write it in the same atomic, durable commit as the state.
    /// </summary>
    ulong DurableAppliedIndex { get; }

    /// <summary>
    /// Makes every entry applied so far durable, and records <paramref name="appliedIndex"/> as the
    /// applied index in the same commit (etcd forces a backend commit before a snapshot). The node
    /// passes the index of the last entry it applied: at or after the last one passed to
    /// <see cref="IStateMachine.Apply"/>, since the entries between carry nothing for the machine
    /// (membership changes, a new leader's empty entry). On return
    /// <see cref="DurableAppliedIndex"/> would read at least <paramref name="appliedIndex"/>.
    /// </summary>
    void Persist(ulong appliedIndex);

    /// <summary>
    /// Starts a checkpoint of the state as of the last entry applied, quickly (a read transaction,
    /// a file snapshot): the node goes on applying while the checkpoint is written out. Its
    /// <see cref="IStateCheckpoint.Index"/> is the last index passed to
    /// <see cref="IStateMachine.Apply"/> or <see cref="Persist"/>, whichever is later.
    /// </summary>
    IStateCheckpoint BeginCheckpoint();

    /// <summary>
    /// Replaces the whole state with the checkpoint in <paramref name="path"/>, received from the
    /// leader and already fsynced by the node, and records <paramref name="index"/> (the raft
    /// snapshot's index, at or after the checkpoint's own) as the applied index. The machine may
    /// move the file into its store (it is in the node's data directory) or copy it; on return the
    /// new state and <paramref name="index"/> must be durable.
    /// </summary>
    void InstallCheckpoint(string path, ulong index);

    /// <summary>Not called for a persistent machine: its raft snapshots carry no state.</summary>
    byte[] IStateMachine.TakeSnapshot() =>
        throw new NotSupportedException("a persistent state machine is checkpointed, not serialized into raft snapshots");

    /// <summary>Not called for a persistent machine: its state is restored from its store or a checkpoint.</summary>
    void IStateMachine.Restore(ReadOnlyMemory<byte> snapshot) =>
        throw new NotSupportedException("a persistent state machine is restored from its store or a checkpoint, not from raft snapshot data");
}

/// <summary>
/// A consistent view of an <see cref="IPersistentStateMachine"/>'s store, begun on the apply loop
/// and written out on another thread. The node disposes it once written, or when the send fails.
/// </summary>
public interface IStateCheckpoint : IDisposable
{
    /// <summary>The applied index the checkpoint holds.</summary>
    ulong Index { get; }

    /// <summary>
    /// Writes the checkpoint to <paramref name="destination"/> (a peer connection), from start to
    /// end, without holding the whole state in memory. Called at most once, not on the apply loop.
    /// </summary>
    Task WriteToAsync(Stream destination, CancellationToken cancellationToken);
}

/// <summary>
/// A persistent state machine over typed commands: what <see cref="IPersistentStateMachine"/> is
/// over bytes. <see cref="TypedStateMachine.Create"/> wraps it into an
/// <see cref="IPersistentStateMachine"/>.
/// </summary>
/// <typeparam name="TCommand">The command type.</typeparam>
/// <typeparam name="TResult">What applying a command returns to its proposer.</typeparam>
public interface IPersistentStateMachine<in TCommand, out TResult> : IStateMachine<TCommand, TResult>
{
    /// <inheritdoc cref="IPersistentStateMachine.DurableAppliedIndex"/>
    ulong DurableAppliedIndex { get; }

    /// <inheritdoc cref="IPersistentStateMachine.Persist"/>
    void Persist(ulong appliedIndex);

    /// <inheritdoc cref="IPersistentStateMachine.BeginCheckpoint"/>
    IStateCheckpoint BeginCheckpoint();

    /// <inheritdoc cref="IPersistentStateMachine.InstallCheckpoint"/>
    void InstallCheckpoint(string path, ulong index);

    /// <summary>Not called for a persistent machine: its raft snapshots carry no state.</summary>
    byte[] IStateMachine<TCommand, TResult>.TakeSnapshot() =>
        throw new NotSupportedException("a persistent state machine is checkpointed, not serialized into raft snapshots");

    /// <summary>Not called for a persistent machine: its state is restored from its store or a checkpoint.</summary>
    void IStateMachine<TCommand, TResult>.Restore(ReadOnlyMemory<byte> snapshot) =>
        throw new NotSupportedException("a persistent state machine is restored from its store or a checkpoint, not from raft snapshot data");
}
