namespace Raft.Interop;

/// <summary>
/// Turns a command into the bytes of a log entry and back. Every member decodes the entries another
/// member encoded, so the encoding must not change between the versions of a running cluster.
/// </summary>
/// <typeparam name="TCommand">The command type.</typeparam>
public interface ICommandCodec<TCommand>
{
    /// <summary>The bytes of <paramref name="command"/>, as proposed.</summary>
    byte[] Encode(TCommand command);

    /// <summary>The command that <see cref="Encode"/> turned into <paramref name="data"/>.</summary>
    TCommand Decode(ReadOnlyMemory<byte> data);
}

/// <summary>
/// A replicated state machine over typed commands: what <see cref="IStateMachine"/> is over bytes.
/// Wrap it with <see cref="TypedStateMachine.Create"/> (hosting does this for you) and propose with
/// <see cref="RaftNode{TCommand, TResult}"/>, whose <c>ProposeAsync</c> completes with the
/// <typeparamref name="TResult"/> that <see cref="Apply"/> returned.
/// </summary>
/// <typeparam name="TCommand">The command type.</typeparam>
/// <typeparam name="TResult">What applying a command returns to its proposer.</typeparam>
public interface IStateMachine<in TCommand, out TResult>
{
    /// <summary>
    /// Applies one committed command, as <see cref="IStateMachine.Apply"/>: called from the apply
    /// loop only, one call at a time, in log order; must be deterministic.
    /// </summary>
    TResult Apply(ulong index, TCommand command);

    /// <summary>Serializes the whole state as of the last applied index, for a snapshot.</summary>
    byte[] TakeSnapshot();

    /// <summary>Replaces the whole state with one produced by <see cref="TakeSnapshot"/>.</summary>
    void Restore(ReadOnlyMemory<byte> snapshot);
}

/// <summary>Adapts a typed state machine to the node's <see cref="IStateMachine"/>.</summary>
public static class TypedStateMachine
{
    /// <summary>
    /// The <see cref="IStateMachine"/> a node runs for <paramref name="stateMachine"/>: it decodes
    /// each command with <paramref name="codec"/> and returns <see cref="IStateMachine{TCommand, TResult}.Apply"/>'s
    /// result to the proposer. A state machine that also implements <see cref="ISnapshotCapture"/>
    /// keeps its background snapshots; an <see cref="IPersistentStateMachine{TCommand, TResult}"/>
    /// becomes an <see cref="IPersistentStateMachine"/>.
    /// </summary>
    public static IStateMachine Create<TCommand, TResult>(IStateMachine<TCommand, TResult> stateMachine, ICommandCodec<TCommand> codec)
    {
        ArgumentNullException.ThrowIfNull(stateMachine);
        ArgumentNullException.ThrowIfNull(codec);
        // The node looks for ISnapshotCapture and IPersistentStateMachine on the machine it runs,
        // so the adapter has them exactly when the typed machine has them.
        if (stateMachine is IPersistentStateMachine<TCommand, TResult> persistent)
            return new Persistent<TCommand, TResult>(persistent, codec);
        return stateMachine is ISnapshotCapture capture
            ? new Capturing<TCommand, TResult>(stateMachine, codec, capture)
            : new Adapter<TCommand, TResult>(stateMachine, codec);
    }

    private class Adapter<TCommand, TResult>(IStateMachine<TCommand, TResult> inner, ICommandCodec<TCommand> codec) : IStateMachine
    {
        public object? Apply(ulong index, ReadOnlyMemory<byte> command) => inner.Apply(index, codec.Decode(command));

        public byte[] TakeSnapshot() => inner.TakeSnapshot();

        public void Restore(ReadOnlyMemory<byte> snapshot) => inner.Restore(snapshot);
    }

    private sealed class Capturing<TCommand, TResult>(IStateMachine<TCommand, TResult> inner, ICommandCodec<TCommand> codec, ISnapshotCapture capture)
        : Adapter<TCommand, TResult>(inner, codec), ISnapshotCapture
    {
        public Func<byte[]> CaptureSnapshot() => capture.CaptureSnapshot();
    }

    private sealed class Persistent<TCommand, TResult>(IPersistentStateMachine<TCommand, TResult> inner, ICommandCodec<TCommand> codec)
        : IPersistentStateMachine
    {
        public ulong DurableAppliedIndex => inner.DurableAppliedIndex;

        public object? Apply(ulong index, ReadOnlyMemory<byte> command) => inner.Apply(index, codec.Decode(command));

        public void Persist(ulong appliedIndex) => inner.Persist(appliedIndex);

        public IStateCheckpoint BeginCheckpoint() => inner.BeginCheckpoint();

        public void InstallCheckpoint(string path, ulong index) => inner.InstallCheckpoint(path, index);
    }
}
