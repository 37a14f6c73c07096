/// A small in-memory Raft cluster for behaviour tests and the simulation: members that handle
/// their Readys the way a host does (persist, apply, advance), and a network that delivers the
/// messages among them, minus what it is told to drop. Everything is an immutable value.
module Raft.Core.Tests.Cluster

open Raft.Core

/// One member as a host runs it: the RawNode (holding its MemoryStorage) and the state machine,
/// which here just records what it applied.
[<NoComparison; NoEquality>]
type Member =
    { Rn: RawNode
      /// Applied entries after `SnapshotIndex`, newest first.
      Applied: Entry list
      /// Index of the last snapshot the state machine was restored from (1 at the start).
      SnapshotIndex: uint64
      /// The membership as of the last applied entry or snapshot.
      ConfState: ConfState
      /// Read states handed out so far, newest first.
      ReadStates: ReadState list }

/// The node of an operation's result.
let nodeOf (struct (rn: RawNode, _: Result<unit, RaftError>)) = rn

/// The node without its log lines.
let withoutLogs (rn: RawNode) =
    let struct (_, rn) = RawNode.drainLogs rn
    rn

[<RequireQualifiedAccess>]
module Member =
    /// The first index every member starts with: a snapshot at index 1, term 1, holds the
    /// initial membership, so that logs start empty after it.
    [<Literal>]
    let StartIndex = 1UL

    let confState (voters: uint64 list) (learners: uint64 list) =
        { Pb.emptyConfState with Voters = voters; Learners = learners }

    /// A fresh member whose storage holds the initial membership as a snapshot at index 1.
    let private initialStorage (cs: ConfState) =
        let snap = { Data = [||]; Metadata = { ConfState = cs; Index = StartIndex; Term = 1UL } }
        match MemoryStorage.applySnapshot snap MemoryStorage.empty with
        | Ok s -> s
        | Error e -> failwith (StorageError.message e)

    let private ofStorage (cfg: Config) (cs: ConfState) (storage: MemoryStorage) =
        let rn = RawNode.create { cfg with Applied = StartIndex } storage
        { Rn = withoutLogs rn
          Applied = []
          SnapshotIndex = StartIndex
          ConfState = cs
          ReadStates = [] }

    /// A fresh member whose storage holds the initial membership as a snapshot at index 1.
    let create (cfg: Config) (cs: ConfState) : Member = ofStorage cfg cs (initialStorage cs)

    /// A member with an empty storage that knows no membership: a node joining a cluster, which
    /// the leader brings up to date with a snapshot.
    let createJoining (cfg: Config) : Member =
        { Rn = withoutLogs (RawNode.create { cfg with Applied = 0UL } MemoryStorage.empty)
          Applied = []
          SnapshotIndex = 0UL
          ConfState = Pb.emptyConfState
          ReadStates = [] }

    /// A member that restarts with a stable log after the initial snapshot: one entry per term
    /// in `terms` (at indexes 2, 3, ...; payload "t<term>i<index>"), at term `term`, nothing
    /// committed beyond the snapshot.
    let createWithLog (cfg: Config) (cs: ConfState) (terms: uint64 list) (term: uint64) : Member =
        let ents =
            terms
            |> List.mapi (fun i t ->
                let index = StartIndex + 1UL + uint64 i
                { Term = t
                  Index = index
                  Type = EntryNormal
                  Data = System.Text.Encoding.UTF8.GetBytes(sprintf "t%di%d" t index) })
            |> Array.ofList
        initialStorage cs
        |> MemoryStorage.append ents
        |> MemoryStorage.setHardState { Term = term; Vote = 0UL; Commit = StartIndex }
        |> ofStorage cfg cs

    let id (m: Member) = RawNode.id m.Rn
    let raft (m: Member) = RawNode.raft m.Rn
    let storage (m: Member) = RawNode.storage m.Rn

    /// The index of the last entry the state machine applied.
    let appliedIndex (m: Member) =
        match m.Applied with
        | e :: _ -> e.Index
        | [] -> m.SnapshotIndex

    /// Runs an operation on the node and drops its log lines (the scripts check those).
    let map (f: RawNode -> RawNode) (m: Member) = { m with Rn = withoutLogs (f m.Rn) }

    /// Like `map`, for operations that may fail.
    let tryMap (f: RawNode -> struct (RawNode * Result<unit, RaftError>)) (m: Member) =
        let struct (rn, res) = f m.Rn
        { m with Rn = withoutLogs rn }, res

    /// Takes the node's Ready and handles it as a host does: snapshot, hard state and entries to
    /// storage; committed entries to the state machine (conf changes to the node); then advance.
    /// Returns the member and the messages to send.
    let handleReady (m: Member) : Member * Message list =
        let struct (rd, rn) = RawNode.ready m.Rn
        let rn =
            if Pb.isEmptySnap rd.Snapshot then
                rn
            else
                match RawNode.applySnapshotToStorage rd.Snapshot rn with
                | Ok rn -> rn
                | Error e -> failwith (StorageError.message e)
        let rn = if Pb.isEmptyHardState rd.HardState then rn else RawNode.setHardState rd.HardState rn
        let rn = RawNode.appendToStorage rd.Entries rn
        let m =
            if Pb.isEmptySnap rd.Snapshot then
                { m with Rn = rn }
            else
                { m with
                    Rn = rn
                    Applied = []
                    SnapshotIndex = rd.Snapshot.Metadata.Index
                    ConfState = rd.Snapshot.Metadata.ConfState }
        let m =
            rd.CommittedEntries
            |> Array.fold
                (fun (m: Member) e ->
                    let m =
                        match Codec.confChangeOfEntry e with
                        | None -> m
                        | Some(Error err) -> failwith err
                        | Some(Ok cc) ->
                            let struct (rn, cs) = RawNode.applyConfChange cc m.Rn
                            { m with Rn = rn; ConfState = cs }
                    { m with Applied = e :: m.Applied })
                m
        // Like etcd's harness, the storage's snapshot follows the applied state, so that a leader
        // always has a snapshot to send that includes the newest membership.
        let m =
            if rd.CommittedEntries.Length = 0 then
                m
            else
                match RawNode.createSnapshot (appliedIndex m) (Some m.ConfState) [||] m.Rn with
                | Ok(_, rn) -> { m with Rn = rn }
                | Error ErrSnapOutOfDate -> m
                | Error e -> failwith (StorageError.message e)
        let m =
            if rd.ReadStates.IsEmpty then m
            else { m with ReadStates = List.rev rd.ReadStates @ m.ReadStates }
        { m with Rn = withoutLogs (RawNode.advance rd m.Rn) }, List.ofArray rd.Messages

    /// Discards the log up to the applied index (whose state the storage's snapshot holds), as a
    /// host does to bound its log.
    let compact (m: Member) =
        match RawNode.compact (appliedIndex m) m.Rn with
        | Ok rn -> { m with Rn = rn }
        | Error ErrCompacted -> m
        | Error e -> failwith (StorageError.message e)

    /// All entries in the log (stable and unstable) after the snapshot.
    let entries (m: Member) =
        let l = (raft m).RaftLog
        RaftLog.allEntries l |> EntrySeq.toArray

/// The members and the messages in flight between them.
[<NoComparison; NoEquality>]
type Net =
    { Members: Map<uint64, Member>
      /// Messages sent and not yet delivered, oldest first.
      InFlight: Message list
      /// Messages the network loses.
      Drop: Message -> bool }

[<RequireQualifiedAccess>]
module Net =
    /// Members with the ids of `voters` and `learners`, all knowing that membership, each with the
    /// config `configure` makes of etcd's usual defaults (election 10 ticks, heartbeat 1).
    let createWith (configure: Config -> Config) (voters: uint64 list) (learners: uint64 list) =
        let cs = Member.confState voters learners
        { Members =
            voters @ learners
            |> List.map (fun id -> id, Member.create (configure (Config.defaults id)) cs)
            |> Map.ofList
          InFlight = []
          Drop = fun _ -> false }

    let create (voters: uint64 list) = createWith id voters []

    let get (id: uint64) (net: Net) = net.Members[id]
    let raft (id: uint64) (net: Net) = Member.raft net.Members[id]
    let set (id: uint64) (m: Member) (net: Net) = { net with Members = Map.add id m net.Members }
    let update (id: uint64) (f: Member -> Member) (net: Net) = set id (f (get id net)) net

    /// Runs an operation that may fail on member id.
    let tryUpdate (id: uint64) (f: RawNode -> struct (RawNode * Result<unit, RaftError>)) (net: Net) =
        let m, res = Member.tryMap f (get id net)
        set id m net, res

    let send (msgs: Message list) (net: Net) =
        if msgs.IsEmpty then net else { net with InFlight = net.InFlight @ msgs }

    /// Every member with a Ready handles it, in id order; their messages go in flight.
    let readyAll (net: Net) =
        net.Members
        |> Map.fold
            (fun net id m ->
                if RawNode.hasReady m.Rn then
                    let m, msgs = Member.handleReady m
                    net |> set id m |> send msgs
                else
                    net)
            net

    /// Steps one message into its recipient (if it exists and the message is not dropped).
    let deliver (msg: Message) (net: Net) =
        match Map.tryFind msg.To net.Members with
        | Some m when not (net.Drop msg) -> set msg.To (fst (Member.tryMap (RawNode.step msg) m)) net
        | _ -> net

    /// Delivers everything in flight, oldest first.
    let deliverAll (net: Net) =
        let msgs = net.InFlight
        msgs |> List.fold (fun net m -> deliver m net) { net with InFlight = [] }

    /// Handles Readys and delivers messages until nothing is left to do; returns the cluster and
    /// every message sent meanwhile (dropped ones included), oldest first.
    let stabilizeRecording (net: Net) =
        let rec loop n (net: Net) (sent: Message list list) =
            if n > 10_000 then failwith "the cluster did not stabilize"
            let busy = not net.InFlight.IsEmpty || (net.Members |> Map.exists (fun _ m -> RawNode.hasReady m.Rn))
            if busy then
                let net = readyAll net
                loop (n + 1) (deliverAll net) (net.InFlight :: sent)
            else
                net, sent |> List.rev |> List.concat
        loop 0 net []

    /// Handles Readys and delivers messages until nothing is left to do.
    let stabilize (net: Net) = fst (stabilizeRecording net)

    /// Adds a member that knows no membership yet (a node joining the cluster).
    let addMember (cfg: Config) (net: Net) = set cfg.ID (Member.createJoining cfg) net

    let proposeConfChange (id: uint64) (cc: ConfChangeI) (net: Net) = tryUpdate id (RawNode.proposeConfChange cc) net

    /// Ticks member id once.
    let tick (id: uint64) (net: Net) = update id (Member.map RawNode.tick) net

    /// Ticks member id n times.
    let ticks (id: uint64) (n: int) (net: Net) = Seq.fold (fun net _ -> tick id net) net (seq { 1..n })

    /// Ticks every member n times, delivering messages after each round.
    let tickAll (n: int) (net: Net) =
        Seq.fold
            (fun (net: Net) _ -> net.Members |> Map.fold (fun net id _ -> tick id net) net |> stabilize)
            net
            (seq { 1..n })

    let campaign (id: uint64) (net: Net) = fst (tryUpdate id RawNode.campaign net)

    let propose (id: uint64) (data: string) (net: Net) =
        tryUpdate id (RawNode.propose (System.Text.Encoding.UTF8.GetBytes data)) net

    /// Proposes and requires the proposal to be accepted.
    let proposeOk (id: uint64) (data: string) (net: Net) =
        match propose id data net with
        | net, Ok() -> net
        | _, Error e -> failwithf "proposal at %d failed: %s" id (RaftError.message e)

    /// Elects `id`: it campaigns and everything is delivered.
    let elect (id: uint64) (net: Net) = net |> campaign id |> stabilize

    /// Cuts every link to and from the given members (in addition to what is already cut).
    let isolate (ids: uint64 list) (net: Net) =
        let old = net.Drop
        { net with Drop = fun m -> old m || List.contains m.From ids || List.contains m.To ids }

    /// Drops the messages matching `pred` (in addition to what is already dropped).
    let dropWhere (pred: Message -> bool) (net: Net) =
        let old = net.Drop
        { net with Drop = fun m -> old m || pred m }

    /// Restores every link.
    let heal (net: Net) = { net with Drop = fun _ -> false }

    let leaders (net: Net) =
        net.Members |> Map.toList |> List.filter (fun (_, m) -> (Member.raft m).State = StateLeader) |> List.map fst

    /// The payloads of the normal, non-empty entries member id applied, oldest first.
    let appliedData (id: uint64) (net: Net) =
        (get id net).Applied
        |> List.rev
        |> List.filter (fun e -> e.Type = EntryNormal && e.Data.Length > 0)
        |> List.map (fun e -> System.Text.Encoding.UTF8.GetString e.Data)
