namespace Raft.Interop;

/// <summary>Why a node operation failed.</summary>
public enum RaftErrorCode
{
    /// <summary>The node is stopping or stopped.</summary>
    Stopped,
    /// <summary>No leader was known within the request's time limit.</summary>
    NoLeader,
    /// <summary>The proposal was dropped (e.g. during a leadership transfer); it may be retried.</summary>
    ProposalDropped,
    /// <summary>The request is larger than the node accepts.</summary>
    RequestTooLarge,
    /// <summary>The member named does not exist.</summary>
    MemberNotFound,
    /// <summary>The peer URL is already used by a member.</summary>
    PeerUrlExists,
    /// <summary>The member is not a learner (promote) or not ready to be promoted.</summary>
    MemberNotLearner,
    /// <summary>The learner is not caught up enough with the leader to be promoted.</summary>
    LearnerNotReady,
    /// <summary>Removing or changing the member would lose quorum or is otherwise refused.</summary>
    Unhealthy,
    /// <summary>The operation timed out inside the node.</summary>
    Timeout,
    /// <summary>The operation needs the leader's knowledge (e.g. promoting a learner) and this member does not lead.</summary>
    NotLeader,
}

/// <summary>A failure of a node operation, with a machine-readable code.</summary>
public sealed class RaftException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RaftException(RaftErrorCode code, string message, Exception? inner = null) : base(message, inner) => Code = code;

    /// <summary>Why the operation failed.</summary>
    public RaftErrorCode Code { get; }
}
