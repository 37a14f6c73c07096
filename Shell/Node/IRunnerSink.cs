using Raft.Core;

namespace Raft.Shell.Node;

/// <summary>
/// Where the runner's effects go besides disk and network: the node's leader tracking, the
/// linearizable-read loop and the apply loop. Every method returns at once.
/// </summary>
internal interface IRunnerSink
{
    /// <summary>The seed's updateLead / updateLeadership.</summary>
    void OnLeaderUpdate(LeaderUpdate update, ulong term);

    /// <summary>The newest ReadState of a Ready (the seed's readStateC).</summary>
    void OnReadState(ReadState state);

    /// <summary>
    /// Committed entries and snapshot for the apply loop (the seed's applyc). The apply loop may
    /// not look at them before the next <see cref="WakeApply"/>.
    /// </summary>
    void OnApply(ApplyItem item);

    /// <summary>Wakes the apply loop for the items handed to <see cref="OnApply"/>.</summary>
    void WakeApply();

    /// <summary>The seed's updateCommittedIndex.</summary>
    void OnCommittedIndex(ulong index);

    /// <summary>
    /// The WAL holds a hard state with this commit index (written out, so a killed process finds
    /// it): the apply loop may run ahead of the save of the commit that allowed it.
    /// </summary>
    void OnCommitSaved(ulong commit);

    /// <summary>A MsgSnap for the apply side to merge with the state machine's snapshot (the seed's msgSnapC).</summary>
    void OnRedirectSnapshot(Message message);

    /// <summary>The seed's isIDRemoved.</summary>
    bool IsRemoved(ulong id);

    /// <summary>The runner failed (a disk error, a broken invariant); the node must stop.</summary>
    void OnFatal(Exception error);
}
