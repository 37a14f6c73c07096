/// The state of one Raft peer (etcd's `raft` struct), a value no caller outside Core can change,
/// and the errors its operations return.
namespace Raft.Core

open System

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

/// The parts of a node's state that change rarely (elections, reads, configuration, ticks, log
/// lines): kept apart so that the copy a step makes of the node stays small.
type internal RaftRare =
    { Id: uint64
      Settings: RaftSettings
      Term: uint64
      Vote: uint64
      State: StateType
      Lead: uint64
      /// The tracker's configuration, votes and limits; its Progress map is kept empty, the
      /// progress living in the node's progress array instead (see Raft.Prs).
      TrackerState: ProgressTracker
      /// The tracked ids, sorted; replaced only when the configuration changes.
      PrIds: uint64[]
      Logs: LogLine list
      ReadStates: ReadState list
      IsLearner: bool
      LeadTransferee: uint64
      PendingConfIndex: uint64
      ReadOnly: ReadOnly
      HeartbeatElapsed: int
      RandomizedElectionTimeout: int
      Rand: uint64
      PendingReadIndexMessages: Message list }

/// One Raft peer's complete state (etcd's `raft` struct). To everyone outside Core it is a
/// read-only value: every operation of the `Raft` module returns a new node and never changes
/// one a caller holds. Inside, an operation copies the node once (`Clone`) and updates that copy
/// in place for the rest of the step: the state has two dozen fields and a message changes
/// several of them at several points, so copying it at every change cost more than the step's
/// real work. The copy escapes only as the operation's result. What a step usually changes
/// (the log, the peers' progress, the queued messages, the uncommitted size, the election
/// clock) lives in the node itself; the rest in a `RaftRare` record that a change replaces.
/// Lists that accumulate (read states, log lines) are kept newest first. RawNode extends this
/// type, so that a step through RawNode copies one object.
type Raft =
    val mutable private rare: RaftRare
    val mutable private raftLog: RaftLog
    /// The progress of ProgressIds[k] at k. Older nodes may share the array, so an operation
    /// copies it before its first change (see prValsOwned).
    val mutable private prVals: Progress[]
    /// prVals is this node's own copy, made during the operation now updating the node: later
    /// changes in the same operation write into it. A copy of the node never owns it.
    val mutable private prValsOwned: bool
    val mutable private outbox: Outbox
    val mutable private uncommittedSize: uint64
    val mutable private electionElapsed: int

    /// A follower at term 0 with nothing in flight; `Raft.create` fills in the rest.
    internal new(id, settings, raftLog, prs: ProgressTracker, readOnly, rand) =
        { rare =
            { Id = id
              Settings = settings
              Term = 0UL
              Vote = 0UL
              State = StateFollower
              Lead = 0UL
              TrackerState = { prs with Progress = Map.empty }
              PrIds = Seq.toArray prs.Progress.Keys
              Logs = []
              ReadStates = []
              IsLearner = false
              LeadTransferee = 0UL
              PendingConfIndex = 0UL
              ReadOnly = readOnly
              HeartbeatElapsed = 0
              RandomizedElectionTimeout = 0
              Rand = rand
              PendingReadIndexMessages = [] }
          raftLog = raftLog
          prVals = Seq.toArray prs.Progress.Values
          prValsOwned = true
          outbox = Outbox.Empty
          uncommittedSize = 0UL
          electionElapsed = 0 }

    /// A copy of `o`, field by field (several times cheaper than MemberwiseClone). Every field
    /// holds an immutable value, so the copy shares nothing that either node could change.
    internal new(o: Raft) =
        { rare = o.rare
          raftLog = o.raftLog
          prVals = o.prVals
          prValsOwned = false
          outbox = o.outbox
          uncommittedSize = o.uncommittedSize
          electionElapsed = o.electionElapsed }

    member r.Id = r.rare.Id
    member r.Settings = r.rare.Settings
    member r.Term
        with get () = r.rare.Term
        and internal set (v: uint64) = if not (v = r.rare.Term) then r.rare <- { r.rare with Term = v }
    member r.RaftLog with get () = r.raftLog and internal set (v: RaftLog) = r.raftLog <- v
    /// The configuration and the progress of every peer. The node keeps the progress in two
    /// arrays by id rather than in the tracker's Map: a leader changes some progress several
    /// times per message, and a copied array of a few references is much cheaper than a new
    /// map, tracker and tree path. The tracker is assembled here for the (rarer) readers that
    /// need it whole.
    member r.Prs
        with get () =
            let ids = r.rare.PrIds
            let mutable m = Map.empty
            for k in 0 .. ids.Length - 1 do
                m <- Map.add ids[k] r.prVals[k] m
            { r.rare.TrackerState with Progress = m }
        and internal set (v: ProgressTracker) =
            r.rare <- { r.rare with TrackerState = { v with Progress = Map.empty }; PrIds = Seq.toArray v.Progress.Keys }
            r.prVals <- Seq.toArray v.Progress.Values
            r.prValsOwned <- true

    /// The active configuration (Prs.Config without assembling the tracker).
    member internal r.TrackerConfig = r.rare.TrackerState.Config

    /// The tracked ids in increasing order. The array is never changed: a new configuration
    /// brings a new one.
    member internal r.ProgressIds = r.rare.PrIds

    /// The position of id in ProgressIds, negative when it is not tracked.
    member internal r.ProgressIndex(id: uint64) =
        // A plain scan: clusters have a handful of members, and Array.BinarySearch's generic
        // comparer cost more than the whole scan.
        let ids = r.rare.PrIds
        let mutable k = 0
        while k < ids.Length && ids[k] < id do
            k <- k + 1
        if k < ids.Length && ids[k] = id then k else -1

    /// Whether id is tracked.
    member internal r.HasProgress(id: uint64) = r.ProgressIndex id >= 0

    /// The progress at a position of ProgressIds.
    member internal r.ProgressAt(k: int) = r.prVals[k]

    /// Replaces the progress at a position of ProgressIds: in a copy of the array the first time
    /// in an operation (older nodes share the old one), in place after that.
    member internal r.SetProgressAt(k: int, pr: Progress) =
        if not r.prValsOwned then
            r.prVals <- r.prVals.AsSpan().ToArray() // not Array.copy: Clone is slow for small arrays
            r.prValsOwned <- true
        r.prVals[k] <- pr
    member r.State
        with get () = r.rare.State
        and internal set (v: StateType) = if not (v = r.rare.State) then r.rare <- { r.rare with State = v }
    /// Messages to send with the next Ready, newest first.
    member r.Msgs = r.outbox.ToListNewestFirst()
    /// Messages to send with the next Ready, oldest first.
    member internal r.Outbox with get () = r.outbox and set (v: Outbox) = r.outbox <- v
    /// Queues a message for the next Ready.
    member internal r.Enqueue(m: Message) = r.outbox <- r.outbox.Add m
    member r.Lead
        with get () = r.rare.Lead
        and internal set (v: uint64) = if not (v = r.rare.Lead) then r.rare <- { r.rare with Lead = v }
    /// Estimated size of the uncommitted tail (leader only).
    member r.UncommittedSize with get () = r.uncommittedSize and internal set (v: uint64) = r.uncommittedSize <- v
    /// Ticks since the last election timeout (leader, candidate) or since the follower last
    /// heard from its leader.
    member r.ElectionElapsed with get () = r.electionElapsed and internal set (v: int) = r.electionElapsed <- v
    /// Log lines not yet drained, newest first.
    member r.Logs
        with get () = r.rare.Logs
        and internal set (v: LogLine list) = if not (obj.ReferenceEquals(v, r.rare.Logs)) then r.rare <- { r.rare with Logs = v }
    member r.Vote
        with get () = r.rare.Vote
        and internal set (v: uint64) = if not (v = r.rare.Vote) then r.rare <- { r.rare with Vote = v }
    /// Answers to ReadIndex requests not yet handed out, newest first.
    member r.ReadStates
        with get () = r.rare.ReadStates
        and internal set (v: ReadState list) = if not (obj.ReferenceEquals(v, r.rare.ReadStates)) then r.rare <- { r.rare with ReadStates = v }
    /// The node itself is a learner in the active configuration.
    member r.IsLearner
        with get () = r.rare.IsLearner
        and internal set (v: bool) = if not (v = r.rare.IsLearner) then r.rare <- { r.rare with IsLearner = v }
    /// Target of a leadership transfer in progress (0 when none).
    member r.LeadTransferee
        with get () = r.rare.LeadTransferee
        and internal set (v: uint64) = if not (v = r.rare.LeadTransferee) then r.rare <- { r.rare with LeadTransferee = v }
    /// At least the index of the latest conf change in the log that may not be applied yet;
    /// new conf changes are refused while applied is below it.
    member r.PendingConfIndex
        with get () = r.rare.PendingConfIndex
        and internal set (v: uint64) = if not (v = r.rare.PendingConfIndex) then r.rare <- { r.rare with PendingConfIndex = v }
    member r.ReadOnly
        with get () = r.rare.ReadOnly
        and internal set (v: ReadOnly) = if not (obj.ReferenceEquals(v, r.rare.ReadOnly)) then r.rare <- { r.rare with ReadOnly = v }
    /// Ticks since the last heartbeat (leader only).
    member r.HeartbeatElapsed
        with get () = r.rare.HeartbeatElapsed
        and internal set (v: int) = if not (v = r.rare.HeartbeatElapsed) then r.rare <- { r.rare with HeartbeatElapsed = v }
    /// Drawn from [ElectionTimeout, 2*ElectionTimeout-1] at every reset.
    member r.RandomizedElectionTimeout
        with get () = r.rare.RandomizedElectionTimeout
        and internal set (v: int) = if not (v = r.rare.RandomizedElectionTimeout) then r.rare <- { r.rare with RandomizedElectionTimeout = v }
    /// State of the generator of election timeouts (splitmix64).
    member r.Rand
        with get () = r.rare.Rand
        and internal set (v: uint64) = if not (v = r.rare.Rand) then r.rare <- { r.rare with Rand = v }
    /// ReadIndex requests held back until the leader commits an entry of its term, newest first.
    member r.PendingReadIndexMessages
        with get () = r.rare.PendingReadIndexMessages
        and internal set (v: Message list) = if not (obj.ReferenceEquals(v, r.rare.PendingReadIndexMessages)) then r.rare <- { r.rare with PendingReadIndexMessages = v }

    /// A working copy for one operation.
    member internal r.Clone() = Raft(r)

    override r.ToString() =
        sprintf "Raft(id=%x, term=%d, %s, %s)" r.Id r.Term (Pb.stateTypeName r.State) (RaftLog.describe r.RaftLog)
