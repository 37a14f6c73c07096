/// The raftpb vocabulary (etcd raft 3.5) as F# values, plus the few shapes every layer shares:
/// Ready, SoftState, ReadState and log lines as data.
namespace Raft.Core

/// Kind of a log entry (raftpb.EntryType).
type EntryType =
    | EntryNormal
    | EntryConfChange
    | EntryConfChangeV2

/// A log entry (raftpb.Entry). `Data` is never null; an empty array stands for etcd's nil.
type Entry =
    { Term: uint64
      Index: uint64
      Type: EntryType
      Data: byte[] }

/// Persistent state a node must write before it answers anyone (raftpb.HardState).
type HardState = { Term: uint64; Vote: uint64; Commit: uint64 }

/// The membership a snapshot or the log carries (raftpb.ConfState).
type ConfState =
    { Voters: uint64 list
      Learners: uint64 list
      VotersOutgoing: uint64 list
      LearnersNext: uint64 list
      AutoLeave: bool }

type SnapshotMetadata = { ConfState: ConfState; Index: uint64; Term: uint64 }

/// A state-machine snapshot plus the log position and membership it covers (raftpb.Snapshot).
type Snapshot = { Data: byte[]; Metadata: SnapshotMetadata }

/// raftpb.MessageType; the union case names are etcd's.
type MessageType =
    | MsgHup
    | MsgBeat
    | MsgProp
    | MsgApp
    | MsgAppResp
    | MsgVote
    | MsgVoteResp
    | MsgSnap
    | MsgHeartbeat
    | MsgHeartbeatResp
    | MsgUnreachable
    | MsgSnapStatus
    | MsgCheckQuorum
    | MsgTransferLeader
    | MsgTimeoutNow
    | MsgReadIndex
    | MsgReadIndexResp
    | MsgPreVote
    | MsgPreVoteResp

/// A Raft message (raftpb.Message). Byte fields are never null; empty stands for nil. A message is
/// a value, arrays included: a node keeps the entries it steps as they are (as etcd keeps the
/// slices), and followers may receive one entries array between them, so no one may change an
/// array once it is in a message.
type Message =
    { Type: MessageType
      To: uint64
      From: uint64
      Term: uint64
      LogTerm: uint64
      Index: uint64
      Entries: Entry[]
      Commit: uint64
      Snapshot: Snapshot
      Reject: bool
      RejectHint: uint64
      Context: byte[] }

type ConfChangeType =
    | ConfChangeAddNode
    | ConfChangeRemoveNode
    | ConfChangeUpdateNode
    | ConfChangeAddLearnerNode

type ConfChangeTransition =
    | ConfChangeTransitionAuto
    | ConfChangeTransitionJointImplicit
    | ConfChangeTransitionJointExplicit

/// Legacy single-member configuration change (raftpb.ConfChange).
type ConfChange =
    { ID: uint64
      Type: ConfChangeType
      NodeID: uint64
      Context: byte[] }

type ConfChangeSingle = { Type: ConfChangeType; NodeID: uint64 }

/// Configuration change that may use joint consensus (raftpb.ConfChangeV2).
type ConfChangeV2 =
    { Transition: ConfChangeTransition
      Changes: ConfChangeSingle list
      Context: byte[] }

/// Either kind of configuration change (etcd's ConfChangeI).
type ConfChangeI =
    | V1 of ConfChange
    | V2 of ConfChangeV2

/// The role of a node (etcd's StateType; the order of the cases is etcd's numbering).
type StateType =
    | StateFollower
    | StateCandidate
    | StateLeader
    | StatePreCandidate

/// Volatile state, useful for logging and for the shell's leader tracking.
type SoftState = { Lead: uint64; RaftState: StateType }

/// The answer to a ReadIndex request: reads are linearizable once `Index` is applied.
type ReadState = { Index: uint64; RequestCtx: byte[] }

/// What a node asks its host to persist, send and apply (etcd's Ready).
type Ready =
    { /// None when the soft state did not change since the last Ready.
      SoftState: SoftState option
      /// Empty (all zero) when it did not change.
      HardState: HardState
      ReadStates: ReadState list
      /// Unstable entries to save before messages are sent.
      Entries: Entry[]
      /// Empty (Metadata.Index = 0) when there is none.
      Snapshot: Snapshot
      CommittedEntries: Entry[]
      /// Messages to send, oldest first.
      Messages: Message[]
      MustSync: bool }

/// Severity of a log line, with etcd's level names.
[<RequireQualifiedAccess>]
type LogLevel =
    | Debug
    | Info
    | Warn
    | Error
    | Fatal

/// A line etcd raft would have logged. Core returns these as data; the shell hands them to ILogger.
type LogLine = { Level: LogLevel; Text: string }

/// Names and small predicates over the vocabulary above, as etcd spells them.
module Pb =
    let emptyHardState: HardState = { Term = 0UL; Vote = 0UL; Commit = 0UL }

    let emptyConfState: ConfState =
        { Voters = []
          Learners = []
          VotersOutgoing = []
          LearnersNext = []
          AutoLeave = false }

    let emptySnapshot: Snapshot =
        { Data = [||]
          Metadata = { ConfState = emptyConfState; Index = 0UL; Term = 0UL } }

    /// A message with every field zero; build others with `{ Pb.emptyMessage with ... }`.
    let emptyMessage: Message =
        { Type = MsgHup
          To = 0UL
          From = 0UL
          Term = 0UL
          LogTerm = 0UL
          Index = 0UL
          Entries = [||]
          Commit = 0UL
          Snapshot = emptySnapshot
          Reject = false
          RejectHint = 0UL
          Context = [||] }

    let emptyReady: Ready =
        { SoftState = None
          HardState = emptyHardState
          ReadStates = []
          Entries = [||]
          Snapshot = emptySnapshot
          CommittedEntries = [||]
          Messages = [||]
          MustSync = false }

    let isEmptyHardState (hs: HardState) = hs = emptyHardState
    let isEmptySnap (s: Snapshot) = s.Metadata.Index = 0UL

    let entryTypeName =
        function
        | EntryNormal -> "EntryNormal"
        | EntryConfChange -> "EntryConfChange"
        | EntryConfChangeV2 -> "EntryConfChangeV2"

    let entryTypeNumber =
        function
        | EntryNormal -> 0
        | EntryConfChange -> 1
        | EntryConfChangeV2 -> 2

    let entryTypeOfNumber =
        function
        | 0 -> Some EntryNormal
        | 1 -> Some EntryConfChange
        | 2 -> Some EntryConfChangeV2
        | _ -> None

    let private messageTypes =
        [| MsgHup; MsgBeat; MsgProp; MsgApp; MsgAppResp; MsgVote; MsgVoteResp; MsgSnap; MsgHeartbeat
           MsgHeartbeatResp; MsgUnreachable; MsgSnapStatus; MsgCheckQuorum; MsgTransferLeader
           MsgTimeoutNow; MsgReadIndex; MsgReadIndexResp; MsgPreVote; MsgPreVoteResp |]

    let private messageTypeNames =
        [| "MsgHup"; "MsgBeat"; "MsgProp"; "MsgApp"; "MsgAppResp"; "MsgVote"; "MsgVoteResp"; "MsgSnap"
           "MsgHeartbeat"; "MsgHeartbeatResp"; "MsgUnreachable"; "MsgSnapStatus"; "MsgCheckQuorum"
           "MsgTransferLeader"; "MsgTimeoutNow"; "MsgReadIndex"; "MsgReadIndexResp"; "MsgPreVote"
           "MsgPreVoteResp" |]

    /// The wire number of a message type (raftpb.MessageType).
    let messageTypeNumber (t: MessageType) =
        match t with
        | MsgHup -> 0
        | MsgBeat -> 1
        | MsgProp -> 2
        | MsgApp -> 3
        | MsgAppResp -> 4
        | MsgVote -> 5
        | MsgVoteResp -> 6
        | MsgSnap -> 7
        | MsgHeartbeat -> 8
        | MsgHeartbeatResp -> 9
        | MsgUnreachable -> 10
        | MsgSnapStatus -> 11
        | MsgCheckQuorum -> 12
        | MsgTransferLeader -> 13
        | MsgTimeoutNow -> 14
        | MsgReadIndex -> 15
        | MsgReadIndexResp -> 16
        | MsgPreVote -> 17
        | MsgPreVoteResp -> 18

    let messageTypeOfNumber (n: int) =
        if n >= 0 && n < messageTypes.Length then Some messageTypes[n] else None

    let messageTypeName (t: MessageType) = messageTypeNames[messageTypeNumber t]

    let messageTypeOfName (s: string) =
        match System.Array.IndexOf(messageTypeNames, s) with
        | -1 -> None
        | i -> Some messageTypes[i]

    let confChangeTypeName =
        function
        | ConfChangeAddNode -> "ConfChangeAddNode"
        | ConfChangeRemoveNode -> "ConfChangeRemoveNode"
        | ConfChangeUpdateNode -> "ConfChangeUpdateNode"
        | ConfChangeAddLearnerNode -> "ConfChangeAddLearnerNode"

    let confChangeTypeNumber =
        function
        | ConfChangeAddNode -> 0
        | ConfChangeRemoveNode -> 1
        | ConfChangeUpdateNode -> 2
        | ConfChangeAddLearnerNode -> 3

    let confChangeTypeOfNumber =
        function
        | 0 -> Some ConfChangeAddNode
        | 1 -> Some ConfChangeRemoveNode
        | 2 -> Some ConfChangeUpdateNode
        | 3 -> Some ConfChangeAddLearnerNode
        | _ -> None

    let confChangeTransitionNumber =
        function
        | ConfChangeTransitionAuto -> 0
        | ConfChangeTransitionJointImplicit -> 1
        | ConfChangeTransitionJointExplicit -> 2

    let confChangeTransitionOfNumber =
        function
        | 0 -> Some ConfChangeTransitionAuto
        | 1 -> Some ConfChangeTransitionJointImplicit
        | 2 -> Some ConfChangeTransitionJointExplicit
        | _ -> None

    /// etcd's StateType.String().
    let stateTypeName =
        function
        | StateFollower -> "StateFollower"
        | StateCandidate -> "StateCandidate"
        | StateLeader -> "StateLeader"
        | StatePreCandidate -> "StatePreCandidate"

    let logLevelName =
        function
        | LogLevel.Debug -> "DEBUG"
        | LogLevel.Info -> "INFO"
        | LogLevel.Warn -> "WARN"
        | LogLevel.Error -> "ERROR"
        | LogLevel.Fatal -> "FATAL"

    /// Messages a node sends to itself, never over the network (etcd's IsLocalMsg).
    let isLocalMsg =
        function
        | MsgHup
        | MsgBeat
        | MsgUnreachable
        | MsgSnapStatus
        | MsgCheckQuorum -> true
        | _ -> false

    /// etcd's IsResponseMsg.
    let isResponseMsg =
        function
        | MsgAppResp
        | MsgVoteResp
        | MsgHeartbeatResp
        | MsgUnreachable
        | MsgPreVoteResp -> true
        | _ -> false

    /// The response type of a vote or pre-vote request; anything else is a broken invariant.
    let voteRespMsgType =
        function
        | MsgVote -> MsgVoteResp
        | MsgPreVote -> MsgPreVoteResp
        | t -> invalidOp (sprintf "not a vote message: %s" (messageTypeName t))

    /// Size of an entry's payload (etcd's PayloadSize): independent of its index and term.
    let payloadSize (e: Entry) = e.Data.Length

    /// etcd's ConfChange.AsV2.
    let confChangeAsV2 (cc: ConfChange) : ConfChangeV2 =
        { Transition = ConfChangeTransitionAuto
          Changes = [ { Type = cc.Type; NodeID = cc.NodeID } ]
          Context = cc.Context }

    let asV2 =
        function
        | V1 cc -> confChangeAsV2 cc
        | V2 cc -> cc

    /// etcd's ConfChangeV2.EnterJoint: (autoLeave, usesJointConsensus).
    let enterJoint (cc: ConfChangeV2) =
        if cc.Transition <> ConfChangeTransitionAuto || List.length cc.Changes > 1 then
            match cc.Transition with
            | ConfChangeTransitionAuto
            | ConfChangeTransitionJointImplicit -> true, true
            | ConfChangeTransitionJointExplicit -> false, true
        else
            false, false

    /// etcd's ConfChangeV2.LeaveJoint: the change is zero, Context aside.
    let leaveJoint (cc: ConfChangeV2) =
        cc.Transition = ConfChangeTransitionAuto && List.isEmpty cc.Changes
