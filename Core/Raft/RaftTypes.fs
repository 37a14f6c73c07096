/// The state of one Raft peer (etcd's `raft` struct) as an immutable value, and the errors its
/// operations return.
namespace Raft.Core

/// Errors of stepping a node (etcd's ErrProposalDropped, ErrStepLocalMsg, ErrStepPeerNotFound).
type RaftError =
    /// The proposal was ignored (no leader, transfer in progress, size limit...); retry later.
    | ErrProposalDropped
    /// A local message (MsgHup, MsgBeat...) arrived from the network.
    | ErrStepLocalMsg
    /// A response came from a peer the node does not track.
    | ErrStepPeerNotFound

[<RequireQualifiedAccess>]
module RaftError =
    /// etcd's error text.
    let message =
        function
        | ErrProposalDropped -> "raft proposal dropped"
        | ErrStepLocalMsg -> "raft: cannot step raft local message"
        | ErrStepPeerNotFound -> "raft: cannot step as peer not found"

/// Why a node campaigns (etcd's CampaignType).
type CampaignType =
    /// The first phase of an election when PreVote is on.
    | CampaignPreElection
    /// A normal election (or its second phase with PreVote).
    | CampaignElection
    /// An election ordered by the leader during a leadership transfer.
    | CampaignTransfer

/// The parts of a node's settings that never change after it is created.
type RaftSettings =
    { ElectionTimeout: int
      HeartbeatTimeout: int
      MaxMsgSize: uint64
      MaxUncommittedSize: uint64
      CheckQuorum: bool
      PreVote: bool
      DisableProposalForwarding: bool }

/// One Raft peer's complete state (etcd's `raft` struct). To everyone outside Core it is a
/// read-only value: every operation of the `Raft` module returns a new node and never changes
/// one a caller holds. Inside, an operation copies the node once (`Clone`) and updates that copy
/// in place for the rest of the step: the state has two dozen fields and a message changes
/// several of them at several points, so copying it at every change cost more than the step's
/// real work. The copy escapes only as the operation's result. Lists that accumulate (messages,
/// read states, log lines) are kept newest first.
[<Sealed>]
type Raft internal () =
    member val Id = 0UL with get, internal set
    member val Settings: RaftSettings =
        { ElectionTimeout = 0
          HeartbeatTimeout = 0
          MaxMsgSize = 0UL
          MaxUncommittedSize = 0UL
          CheckQuorum = false
          PreVote = false
          DisableProposalForwarding = false } with get, internal set
    member val Term = 0UL with get, internal set
    member val Vote = 0UL with get, internal set
    /// Answers to ReadIndex requests not yet handed out, newest first.
    member val ReadStates: ReadState list = [] with get, internal set
    member val RaftLog = RaftLog.newLog MemoryStorage.empty with get, internal set
    member val Prs = ProgressTracker.make 0 with get, internal set
    member val State = StateFollower with get, internal set
    /// The node itself is a learner in the active configuration.
    member val IsLearner = false with get, internal set
    /// Messages to send with the next Ready, newest first.
    member val Msgs: Message list = [] with get, internal set
    member val Lead = 0UL with get, internal set
    /// Target of a leadership transfer in progress (0 when none).
    member val LeadTransferee = 0UL with get, internal set
    /// At least the index of the latest conf change in the log that may not be applied yet;
    /// new conf changes are refused while applied is below it.
    member val PendingConfIndex = 0UL with get, internal set
    /// Estimated size of the uncommitted tail (leader only).
    member val UncommittedSize = 0UL with get, internal set
    member val ReadOnly = ReadOnly.create ReadOnlySafe with get, internal set
    /// Ticks since the last election timeout (leader, candidate) or since the follower last
    /// heard from its leader.
    member val ElectionElapsed = 0 with get, internal set
    /// Ticks since the last heartbeat (leader only).
    member val HeartbeatElapsed = 0 with get, internal set
    /// Drawn from [ElectionTimeout, 2*ElectionTimeout-1] at every reset.
    member val RandomizedElectionTimeout = 0 with get, internal set
    /// State of the generator of election timeouts (splitmix64).
    member val Rand = 0UL with get, internal set
    /// ReadIndex requests held back until the leader commits an entry of its term, newest first.
    member val PendingReadIndexMessages: Message list = [] with get, internal set
    /// Log lines not yet drained, newest first.
    member val Logs: LogLine list = [] with get, internal set

    /// A working copy for one operation. Every field holds an immutable value, so a shallow copy
    /// shares nothing that either node could change.
    member internal r.Clone() = r.MemberwiseClone() :?> Raft

    override r.ToString() =
        sprintf "Raft(id=%x, term=%d, %s, %s)" r.Id r.Term (Pb.stateTypeName r.State) (RaftLog.describe r.RaftLog)
