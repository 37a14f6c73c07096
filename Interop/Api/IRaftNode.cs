namespace Raft.Interop;

/// <summary>
/// A running member of a Raft cluster: the handle a host uses to propose commands, make
/// linearizable reads, change membership and observe leadership.
/// </summary>
public interface IRaftNode
{
    /// <summary>This member's id.</summary>
    ulong MemberId { get; }

    /// <summary>The cluster's id (derived from the initial membership, as etcd does).</summary>
    ulong ClusterId { get; }

    /// <summary>
    /// Proposes a command and completes with <see cref="IStateMachine.Apply"/>'s result once the entry
    /// is committed and applied on this member. Any member accepts proposals (followers forward them).
    /// Fails with <see cref="RaftException"/> (e.g. <see cref="RaftErrorCode.Stopped"/>,
    /// <see cref="RaftErrorCode.NoLeader"/>, <see cref="RaftErrorCode.RequestTooLarge"/>).
    /// </summary>
    Task<object?> ProposeAsync(ReadOnlyMemory<byte> command, CancellationToken cancellationToken = default);

    /// <summary>
    /// A linearizable read barrier (etcd's ReadIndex): completes once this member has applied
    /// everything committed before the call. A read of the state machine after it sees every write
    /// acknowledged before the call.
    /// </summary>
    Task ReadIndexAsync(CancellationToken cancellationToken = default);

    /// <summary>The members as this node has applied them.</summary>
    IReadOnlyList<Member> Members { get; }

    /// <summary>Adds a member (a voter, or a learner that can be promoted later).</summary>
    Task<Member> AddMemberAsync(IReadOnlyList<string> peerUrls, bool isLearner, CancellationToken cancellationToken = default);

    /// <summary>Removes a member. Removing this member stops it once the change is applied.</summary>
    Task RemoveMemberAsync(ulong memberId, CancellationToken cancellationToken = default);

    /// <summary>Promotes a learner to a voter (it must be caught up with the leader).</summary>
    Task PromoteMemberAsync(ulong memberId, CancellationToken cancellationToken = default);

    /// <summary>Replaces a member's peer URLs (etcd's member update); the member keeps its id and role.</summary>
    Task UpdateMemberAsync(ulong memberId, IReadOnlyList<string> peerUrls, CancellationToken cancellationToken = default);

    /// <summary>Asks the current leader to hand leadership to <paramref name="transferee"/>.</summary>
    Task TransferLeadershipAsync(ulong transferee, CancellationToken cancellationToken = default);

    /// <summary>A consistent snapshot of this member's Raft status.</summary>
    NodeStatus Status { get; }

    /// <summary>Raised (on a thread-pool thread) when this member sees the leader change.</summary>
    event EventHandler<LeaderChangedEventArgs>? LeaderChanged;
}
