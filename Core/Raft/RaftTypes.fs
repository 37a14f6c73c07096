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

/// One Raft peer's complete state. Every operation of the `Raft` module returns a new value; lists
/// that accumulate (messages, read states, log lines) are kept newest first.
type Raft =
    { Id: uint64
      Settings: RaftSettings
      Term: uint64
      Vote: uint64
      /// Answers to ReadIndex requests not yet handed out, newest first.
      ReadStates: ReadState list
      RaftLog: RaftLog
      Prs: ProgressTracker
      State: StateType
      /// The node itself is a learner in the active configuration.
      IsLearner: bool
      /// Messages to send with the next Ready, newest first.
      Msgs: Message list
      Lead: uint64
      /// Target of a leadership transfer in progress (0 when none).
      LeadTransferee: uint64
      /// At least the index of the latest conf change in the log that may not be applied yet;
      /// new conf changes are refused while applied is below it.
      PendingConfIndex: uint64
      /// Estimated size of the uncommitted tail (leader only).
      UncommittedSize: uint64
      ReadOnly: ReadOnly
      /// Ticks since the last election timeout (leader, candidate) or since the follower last
      /// heard from its leader.
      ElectionElapsed: int
      /// Ticks since the last heartbeat (leader only).
      HeartbeatElapsed: int
      /// Drawn from [ElectionTimeout, 2*ElectionTimeout-1] at every reset.
      RandomizedElectionTimeout: int
      /// State of the generator of election timeouts (splitmix64).
      Rand: uint64
      /// ReadIndex requests held back until the leader commits an entry of its term, newest first.
      PendingReadIndexMessages: Message list
      /// Log lines not yet drained, newest first.
      Logs: LogLine list }
