using Raft.Core;

namespace Raft.Shell.Node;

/// <summary>Work for the runner: everything that changes the RawNode arrives as one of these.</summary>
internal abstract class RunnerInput;

/// <summary>A message from a peer.</summary>
internal sealed class StepInput(Message message) : RunnerInput
{
    public Message Message { get; } = message;
}

/// <summary>
/// A proposal (normal entry or conf change). It waits in the runner while no leader is known, as
/// etcd's node does not take proposals then. When raft refuses it (ErrProposalDropped, or the node
/// stops), the runner fails <see cref="Applied"/>, the wait the apply loop completes otherwise: the
/// proposer waits for one task, with no hop through the thread pool when raft accepts.
/// </summary>
internal sealed class ProposeInput : RunnerInput
{
    private int _abandoned;

    public ProposeInput(byte[] data, TaskCompletionSource<object?> applied)
    {
        Data = data;
        Applied = applied;
    }

    public ProposeInput(ConfChange confChange, TaskCompletionSource<object?> applied)
    {
        Data = [];
        ConfChange = confChange;
        Applied = applied;
    }

    public byte[] Data { get; }
    public ConfChange? ConfChange { get; }

    /// <summary>The proposer's wait (see <see cref="RequestWaits"/>); the runner only ever fails it.</summary>
    public TaskCompletionSource<object?> Applied { get; }

    /// <summary>The caller gave up; the runner must not propose it any more.</summary>
    public bool Abandon() => Interlocked.Exchange(ref _abandoned, 1) == 0;

    /// <summary>Claims the proposal for stepping; false when the caller gave up first.</summary>
    public bool Claim() => Interlocked.Exchange(ref _abandoned, 1) == 0;
}

/// <summary>A ReadIndex request with its context.</summary>
internal sealed class ReadIndexInput(byte[] context) : RunnerInput
{
    public byte[] Context { get; } = context;
}

/// <summary>The transport could not reach a peer.</summary>
internal sealed class UnreachableInput(ulong id) : RunnerInput
{
    public ulong Id { get; } = id;
}

/// <summary>The outcome of a snapshot sent to a peer.</summary>
internal sealed class SnapshotStatusInput(ulong id, SnapshotStatus status) : RunnerInput
{
    public ulong Id { get; } = id;
    public SnapshotStatus Status { get; } = status;
}

/// <summary>A leadership transfer request.</summary>
internal sealed class TransferLeaderInput(ulong transferee) : RunnerInput
{
    public ulong Transferee { get; } = transferee;
}

/// <summary>Ticks to add at once (etcd's advanceTicks, used at start-up).</summary>
internal sealed class AdvanceTicksInput(int ticks) : RunnerInput
{
    public int Ticks { get; } = ticks;
}

/// <summary>
/// A request from the apply loop. The runner serves these even while it waits for the apply loop
/// (notify, wait applied), so that the two can never wait for each other.
/// </summary>
internal abstract class ApplySideRequest
{
    public abstract void Fail(Exception error);
}

/// <summary>Apply a committed conf change to raft (etcd's ApplyConfChange); answers the new ConfState.</summary>
internal sealed class ApplyConfChangeRequest(ConfChange confChange) : ApplySideRequest
{
    public ConfChange ConfChange { get; } = confChange;
    public TaskCompletionSource<ConfState> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public override void Fail(Exception error) => Done.TrySetException(error);
}

/// <summary>
/// Record a snapshot of the applied state in the raft storage, compact the in-memory log as the
/// order says, save it to disk and release the WAL (etcd's EtcdServer.snapshot).
/// </summary>
internal sealed class CreateSnapshotRequest(SnapshotOrder order, ConfState confState, byte[] data) : ApplySideRequest
{
    /// <summary>Core's decision: the index, and how far to compact.</summary>
    public SnapshotOrder Order { get; } = order;
    public ConfState ConfState { get; } = confState;
    public byte[] Data { get; } = data;

    /// <summary>
    /// Completes with the <see cref="System.Diagnostics.Stopwatch"/> timestamp at which the snapshot
    /// was on disk and the WAL released (or it turned out stale); faults when saving failed.
    /// </summary>
    public TaskCompletionSource<long> Saved { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Fail(Exception error) => Saved.TrySetException(error);
}
