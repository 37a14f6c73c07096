using Raft.Core;

namespace Raft.Shell.Node;

/// <summary>
/// What the node knows of the leader and the commit index (the seed's rh.updateLead and
/// updateCommittedIndex), with the signals the read loop and the leadership transfer wait on.
/// Written by the runner's and apply loop's sinks, read from any thread.
/// </summary>
internal sealed class LeaderState
{
    private TaskCompletionSource _leaderChanged = NewSignal();
    private TaskCompletionSource _firstCommitInTerm = NewSignal();
    private ulong _lead;
    private ulong _committed;

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The current leader's id, 0 when none is known.</summary>
    public ulong Lead => Volatile.Read(ref _lead);

    /// <summary>The highest index known committed.</summary>
    public ulong Committed => Volatile.Read(ref _committed);

    /// <summary>Completes when a new leader is known.</summary>
    public Task LeaderChanged => Volatile.Read(ref _leaderChanged).Task;

    /// <summary>Completes when a leader's first entry of its term is applied.</summary>
    public Task FirstCommitInTerm => Volatile.Read(ref _firstCommitInTerm).Task;

    /// <summary>Takes in a soft-state change; returns the leader known before.</summary>
    public ulong Update(LeaderUpdate update)
    {
        var previous = Interlocked.Exchange(ref _lead, update.Lead);
        if (update.NewLeader)
            Interlocked.Exchange(ref _leaderChanged, NewSignal()).TrySetResult();
        return previous;
    }

    /// <summary>The seed's updateCommittedIndex: the index only grows.</summary>
    public void OnCommitted(ulong index)
    {
        if (index > Volatile.Read(ref _committed))
            Volatile.Write(ref _committed, index);
    }

    /// <summary>A leader's no-op was applied (etcd's notifyAboutFirstCommitInTerm).</summary>
    public void OnFirstCommitInTerm() => Interlocked.Exchange(ref _firstCommitInTerm, NewSignal()).TrySetResult();
}
