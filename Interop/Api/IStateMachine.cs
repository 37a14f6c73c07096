namespace Raft.Interop;

/// <summary>
/// The host's replicated state machine. The node calls it from its apply loop only, one call at a
/// time, in log order; an implementation needs no locking against the node (it may need its own
/// locking against the host's readers).
/// </summary>
public interface IStateMachine
{
    /// <summary>
    /// Applies one committed command. <paramref name="index"/> is the entry's log index and grows by
    /// one or more between calls. The returned value completes the proposer's
    /// <see cref="IRaftNode.ProposeAsync"/> on the member that proposed it (it is discarded elsewhere).
    /// Must be deterministic: every member applies the same commands in the same order.
    /// </summary>
    object? Apply(ulong index, ReadOnlyMemory<byte> command);

    /// <summary>Serializes the whole state as of the last applied index, for a snapshot.</summary>
    byte[] TakeSnapshot();

    /// <summary>Replaces the whole state with one produced by <see cref="TakeSnapshot"/>.</summary>
    void Restore(ReadOnlyMemory<byte> snapshot);
}
