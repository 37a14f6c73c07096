/// etcd's RawNode: the API a host drives a Raft node with. A RawNode is an immutable value that
/// holds the whole node, its MemoryStorage included; every operation returns the new node and
/// leaves the one it was given as it was. Operations that return two things return a struct
/// pair (`let struct (rn, res) = RawNode.step m rn`; C# deconstructs it as a ValueTuple).
///
/// How a host uses it:
///   - create: `RawNode.create config storage` (Config.validate first for a friendly error), and
///     for a brand-new cluster `Bootstrap.bootstrap peers` (Bootstrap.fs).
///   - input: `tick`, `step` (messages from peers), `propose`, `proposeConfChange`, `readIndex`,
///     `campaign`, `transferLeader`, `reportUnreachable`, `reportSnapshot`. Operations that can
///     fail return `struct (node * Result<unit, RaftError>)` (the node may have changed even on
///     error: log lines, for instance).
///   - output: `hasReady`; `ready` returns the Ready and the node that accepted it. The host then
///     persists `HardState`, `Entries` and `Snapshot`, applies the same to the node's storage with
///     `setHardState`, `appendToStorage`, `applySnapshotToStorage` (pure functions on the node),
///     sends `Messages`, applies `CommittedEntries` (calling `applyConfChange` for conf-change
///     entries), and finally calls `advance rd`.
///   - storage upkeep: `compact`, `createSnapshot`, `storage` (read it).
///   - logs: `drainLogs` returns the lines etcd would have logged since the last drain, oldest
///     first, with the node that no longer holds them. Hosts should drain after each operation
///     (lines accumulate until drained).
///   - introspection: `status`, `basicStatus`, `raft` (the full state, read only).
namespace Raft.Core

/// Whether a snapshot sent to a peer arrived (etcd's SnapshotStatus).
type SnapshotStatus =
    | SnapshotFinish
    | SnapshotFailure

/// A member of the initial cluster for Bootstrap (etcd's Peer).
type Peer = { ID: uint64; Context: byte[] }

/// A node as its host drives it: the state machine (a RawNode is a Raft, read through
/// `RawNode.raft`) plus the soft and hard state of the last Ready handed out. One object, so
/// that a step copies the node once and allocates nothing else for it.
[<Sealed>]
type RawNode =
    inherit Raft
    val mutable private prevSoftSt: SoftState
    val mutable private prevHardSt: HardState

    /// A node over a copy of `r`.
    internal new(r: Raft, prevSoftSt: SoftState, prevHardSt: HardState) =
        { inherit Raft(r)
          prevSoftSt = prevSoftSt
          prevHardSt = prevHardSt }

    /// The soft state of the last Ready handed out.
    member internal rn.PrevSoftSt with get () = rn.prevSoftSt and set (v: SoftState) = rn.prevSoftSt <- v
    /// The hard state of the last Ready advanced.
    member internal rn.PrevHardSt with get () = rn.prevHardSt and set (v: HardState) = rn.prevHardSt <- v

    /// A working copy for one operation.
    member internal rn.CloneNode() = RawNode(rn, rn.prevSoftSt, rn.prevHardSt)

[<RequireQualifiedAccess>]
module RawNode =
    /// A node over the storage (etcd's NewRawNode). An invalid config is a broken invariant;
    /// check it with Config.validate first.
    let create (config: Config) (storage: MemoryStorage) : RawNode =
        let r = Raft.create config storage
        RawNode(r, Raft.softState r, Raft.hardState r)

    let private stepNode (m: Message) (rn: RawNode) =
        let w = rn.CloneNode()
        let res = Raft.InPlace.step m w
        struct (w, res)

    /// The state machine (read only).
    let raft (rn: RawNode) : Raft = rn

    /// This node's id.
    let id (rn: RawNode) = rn.Id

    /// Advances the logical clock by one tick.
    let tick (rn: RawNode) =
        let w = rn.CloneNode()
        Raft.InPlace.tick w
        w

    /// Advances only the election clock, without elections or heartbeats (for quiesced groups).
    let tickQuiesced (rn: RawNode) =
        let w = rn.CloneNode()
        w.ElectionElapsed <- w.ElectionElapsed + 1
        w

    /// Starts an election.
    let campaign (rn: RawNode) : struct (RawNode * Result<unit, RaftError>) =
        stepNode { Pb.emptyMessage with Type = MsgHup } rn

    /// Proposes data to be appended to the log.
    let propose (data: byte[]) (rn: RawNode) : struct (RawNode * Result<unit, RaftError>) =
        let w = rn.CloneNode()
        let res = Raft.InPlace.propose data w
        struct (w, res)

    /// Proposes a configuration change.
    let proposeConfChange (cc: ConfChangeI) (rn: RawNode) : struct (RawNode * Result<unit, RaftError>) =
        let typ, data = Codec.marshalConfChangeI cc
        stepNode
            { Pb.emptyMessage with
                Type = MsgProp
                Entries = [| { Term = 0UL; Index = 0UL; Type = typ; Data = data } |] }
            rn

    /// Applies a committed configuration change; returns the new ConfState. Call it for every
    /// conf-change entry the host applies (and not for one it rejects).
    let applyConfChange (cc: ConfChangeI) (rn: RawNode) : struct (RawNode * ConfState) =
        let w = rn.CloneNode()
        let cs = Raft.InPlace.applyConfChange (Pb.asV2 cc) w
        struct (w, cs)

    /// Steps a message from a peer. Local message types are refused, and so are responses from
    /// peers the node does not track.
    let step (m: Message) (rn: RawNode) : struct (RawNode * Result<unit, RaftError>) =
        if Pb.isLocalMsg m.Type then
            struct (rn, Error ErrStepLocalMsg)
        elif not (Pb.isResponseMsg m.Type) || rn.HasProgress m.From then
            stepNode m rn
        else
            struct (rn, Error ErrStepPeerNotFound)

    /// Whether a Ready would hold anything.
    let hasReady (rn: RawNode) =
        let prevSs = rn.PrevSoftSt
        let prevHs = rn.PrevHardSt
        // The soft and hard state compared field by field: no records built just to compare.
        rn.Lead <> prevSs.Lead
        || rn.State <> prevSs.RaftState
        || (not (rn.Term = 0UL && rn.Vote = 0UL && rn.RaftLog.Committed = 0UL)
            && (rn.Term <> prevHs.Term || rn.Vote <> prevHs.Vote || rn.RaftLog.Committed <> prevHs.Commit))
        || RaftLog.hasPendingSnapshot rn.RaftLog
        || not rn.Outbox.IsEmpty
        || not rn.RaftLog.Unstable.Entries.IsEmpty
        || RaftLog.hasNextEnts rn.RaftLog
        || not rn.ReadStates.IsEmpty

    /// The outstanding work, without accepting it (etcd's readyWithoutAccept).
    let peekReady (rn: RawNode) : Ready =
        let r = rn
        let entries = EntrySeq.toArray r.RaftLog.Unstable.Entries
        let prevHs = rn.PrevHardSt
        let hsChanged = r.Term <> prevHs.Term || r.Vote <> prevHs.Vote || r.RaftLog.Committed <> prevHs.Commit
        let hs = if hsChanged then Raft.hardState r else Pb.emptyHardState
        { SoftState =
            if r.Lead <> rn.PrevSoftSt.Lead || r.State <> rn.PrevSoftSt.RaftState then Some(Raft.softState r)
            else Option.None
          HardState = hs
          ReadStates = List.rev r.ReadStates
          Entries = entries
          Snapshot = defaultArg r.RaftLog.Unstable.Snapshot Pb.emptySnapshot
          CommittedEntries = EntrySeq.toArray (RaftLog.nextEnts r.RaftLog)
          Messages = r.Outbox.AsSpan().ToArray()
          // Term, vote and entries must reach disk before messages go out; a commit index alone
          // may be written lazily.
          MustSync = entries.Length <> 0 || r.Vote <> prevHs.Vote || r.Term <> prevHs.Term }

    /// The outstanding work, and the node that handed it out: the host must handle the Ready and
    /// then call `advance` with it, with nothing else in between.
    let ready (rn: RawNode) : struct (Ready * RawNode) =
        let rd = peekReady rn
        // The node that handed the Ready out no longer holds its messages and read states.
        let w = rn.CloneNode()
        w.Outbox <- Outbox.Expecting rn.Outbox.Count
        w.ReadStates <- []
        match rd.SoftState with
        | Some ss -> w.PrevSoftSt <- ss
        | None -> ()
        struct (rd, w)

    /// The host persisted and applied the Ready (etcd's Advance).
    let advance (rd: Ready) (rn: RawNode) =
        let w = rn.CloneNode()
        if not (Pb.isEmptyHardState rd.HardState) then w.PrevHardSt <- rd.HardState
        Raft.InPlace.advance rd w
        w

    /// Reports that the last message to `id` could not be sent.
    let reportUnreachable (id: uint64) (rn: RawNode) =
        let struct (rn, _) = stepNode { Pb.emptyMessage with Type = MsgUnreachable; From = id } rn
        rn

    /// Reports whether the snapshot sent to `id` arrived.
    let reportSnapshot (id: uint64) (status: SnapshotStatus) (rn: RawNode) =
        let struct (rn, _) =
            stepNode { Pb.emptyMessage with Type = MsgSnapStatus; From = id; Reject = (status = SnapshotFailure) } rn
        rn

    /// Asks the leader to hand leadership to `transferee`.
    let transferLeader (transferee: uint64) (rn: RawNode) =
        let struct (rn, _) = stepNode { Pb.emptyMessage with Type = MsgTransferLeader; From = transferee } rn
        rn

    /// Requests a read index; the answer arrives as a ReadState (with `rctx`) in a later Ready.
    let readIndex (rctx: byte[]) (rn: RawNode) =
        let struct (rn, _) =
            stepNode
                { Pb.emptyMessage with
                    Type = MsgReadIndex
                    Entries = [| { Term = 0UL; Index = 0UL; Type = EntryNormal; Data = rctx } |] }
                rn
        rn

    let status (rn: RawNode) = Status.ofRaft rn

    let basicStatus (rn: RawNode) = Status.basic rn

    /// The log lines since the last drain, oldest first, and the node without them.
    let drainLogs (rn: RawNode) : struct (LogLine list * RawNode) =
        match rn.Logs with
        | [] -> struct ([], rn)
        | lines ->
            let w = rn.CloneNode()
            w.Logs <- []
            struct (List.rev lines, w)

    // -----------------------------------------------------------------------------------------
    // The node's storage.

    /// The node's MemoryStorage.
    let storage (rn: RawNode) = rn.RaftLog.Storage

    /// The node over another storage. (The operations below compute the storage first rather
    /// than pass a function: a host calls them for every Ready.)
    let private withStorage (s: MemoryStorage) (rn: RawNode) =
        let w = rn.CloneNode()
        w.RaftLog <- { w.RaftLog with Storage = s }
        w

    let private tryMapStorage (f: MemoryStorage -> Result<MemoryStorage, StorageError>) (rn: RawNode) =
        match f (storage rn) with
        | Ok s -> Ok(withStorage s rn)
        | Error e -> Error e

    /// Stores the hard state (MemoryStorage.SetHardState).
    let setHardState (hs: HardState) (rn: RawNode) = withStorage (MemoryStorage.setHardState hs (storage rn)) rn

    /// Appends entries to the stable log (MemoryStorage.Append).
    let appendToStorage (entries: Entry[]) (rn: RawNode) =
        if entries.Length = 0 then rn else withStorage (MemoryStorage.append entries (storage rn)) rn

    /// Replaces the stable log with a snapshot (MemoryStorage.ApplySnapshot).
    let applySnapshotToStorage (snap: Snapshot) (rn: RawNode) =
        tryMapStorage (MemoryStorage.applySnapshot snap) rn

    /// Discards stable entries before compactIndex (MemoryStorage.Compact).
    let compact (compactIndex: uint64) (rn: RawNode) = tryMapStorage (MemoryStorage.compact compactIndex) rn

    /// Records a snapshot of the applied state at index i (MemoryStorage.CreateSnapshot); it is
    /// what the node sends to followers that need a snapshot.
    let createSnapshot (i: uint64) (cs: ConfState option) (data: byte[]) (rn: RawNode) =
        match MemoryStorage.createSnapshot i cs data (storage rn) with
        | Ok(snap, s) -> Ok(snap, withStorage s rn)
        | Error e -> Error e
