namespace Raft.Interop;

/// <summary>The role of a member in its current term.</summary>
public enum NodeRole
{
    /// <summary>Follows a leader (or waits for one).</summary>
    Follower,
    /// <summary>Runs an election.</summary>
    Candidate,
    /// <summary>Leads the cluster.</summary>
    Leader,
    /// <summary>Runs a pre-vote before an election.</summary>
    PreCandidate,
}

/// <summary>A point-in-time view of a member's Raft state.</summary>
/// <param name="MemberId">This member.</param>
/// <param name="ClusterId">The cluster.</param>
/// <param name="Term">Current term.</param>
/// <param name="Vote">Whom it voted for in this term (0 for nobody).</param>
/// <param name="Leader">Current leader's id (0 when unknown).</param>
/// <param name="Role">Current role.</param>
/// <param name="CommitIndex">Highest index known committed.</param>
/// <param name="AppliedIndex">Highest index applied to the state machine.</param>
/// <param name="SnapshotIndex">Index of the newest snapshot.</param>
/// <param name="IsLearner">Whether this member is a learner.</param>
public sealed record NodeStatus(
    ulong MemberId,
    ulong ClusterId,
    ulong Term,
    ulong Vote,
    ulong Leader,
    NodeRole Role,
    ulong CommitIndex,
    ulong AppliedIndex,
    ulong SnapshotIndex,
    bool IsLearner);

/// <summary>Data of <see cref="IRaftNode.LeaderChanged"/>.</summary>
/// <param name="PreviousLeader">The leader before (0 for none).</param>
/// <param name="Leader">The new leader (0 for none).</param>
/// <param name="Term">The term in which the change was seen.</param>
public sealed record LeaderChangedEventArgs(ulong PreviousLeader, ulong Leader, ulong Term);
