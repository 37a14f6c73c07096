/// A seeded, deterministic simulation of a Raft cluster under a hostile network, with a checker
/// of Raft's safety properties after every event.
///
/// A seed yields a list of events (ticks, Ready handling, message delivery in any order with
/// drops, duplicates and delays, proposals, conf changes, partitions, crash-restarts,
/// compaction). Events name nodes and messages by position, so that any sub-list of them is a
/// valid run too: that is what shrinking relies on. The checker verifies, after each event:
///   - at most one leader per term;
///   - log matching: an (index, term) pair always names the same entry with the same predecessor;
///   - a committed entry is present on a quorum when the leader records its commit, and never
///     changes afterwards (in any node's committed prefix, or in what it applied);
///   - leader completeness: a leader holds every entry committed in an earlier term;
///   - term and commit (as persisted, also across restarts) and applied never go back.
module Raft.Core.Tests.Simulation

open Raft.Core.Tests.SimulationSupport

open System
open System.Collections.Generic
open Raft.Core
open Raft.Core.Tests.Cluster

/// The cluster as intended, or with a deliberate bug the checker must catch.
type Variant =
    | Correct
    /// A node restarts with its vote forgotten (the hard state's vote is not persisted).
    | ForgetsVoteOnRestart
    /// Voters grant votes without checking that the candidate's log is up to date (as if every
    /// vote request claimed the longest log).
    | VotesIgnoringLogs
    /// Followers append without the consistency check (as if every append named the term the
    /// follower holds at its previous index).
    | AppendsWithoutConsistencyCheck

/// One step of a run. Nodes are named by id (1 to the number of voters plus one); message picks
/// are taken modulo the number of messages in flight.
type Event =
    /// Every node ticks once.
    | TickAll
    | Tick of node: int
    /// Every node with a Ready handles it.
    | ReadyAll
    | Ready of node: int
    /// Delivers everything in flight in an order drawn from the seed, dropping or duplicating
    /// some messages.
    | Flush of seed: uint64
    | Deliver of pick: int
    | Drop of pick: int
    | Duplicate of pick: int
    | Propose of node: int
    /// A conf change at the leader: 0 add voter, 1 remove, 2 add learner, 3 joint swap.
    | ConfChange of kind: int * target: int
    /// Nodes whose bit is set cannot talk to the others.
    | Partition of mask: int
    | Heal
    | Crash of node: int
    | Compact of node: int

/// What a run exercised, to show that the checks had something to check.
type Stats =
    { Committed: int
      Leaders: int
      MaxTerm: uint64
      ConfChanges: int
      Snapshots: int
      Restarts: int }

/// How often each kind of event happens, in relative weights.
type Profile =
    { Ticks: int
      Readys: int
      Deliveries: int
      Losses: int
      Proposals: int
      ConfChanges: int
      Partitions: int
      Crashes: int
      Compactions: int }

module Profile =
    /// The mix the safety test runs: mostly a working cluster, with every kind of fault.
    let standard =
        { Ticks = 15
          Readys = 25
          Deliveries = 26
          Losses = 4
          Proposals = 14
          ConfChanges = 3
          Partitions = 6
          Crashes = 2
          Compactions = 5 }

    /// Frequent crashes: nodes often restart between casting a vote and the next request.
    let crashy = { standard with Crashes = 8; Partitions = 2 }

/// The events of a seed for a cluster of `nodes` voters (plus one spare node for conf changes).
let generateWith (p: Profile) (nodes: int) (steps: int) (seed: uint64) : Event[] =
    let rng = Rng seed
    let u = nodes + 1
    let total = p.Ticks + p.Readys + p.Deliveries + p.Losses + p.Proposals + p.ConfChanges + p.Partitions + p.Crashes + p.Compactions
    Array.init steps (fun _ ->
        let take = WeightedDraw(rng, total).Take
        let node () = 1 + rng.Below u
        if take p.Ticks then (if rng.Below 5 = 0 then Tick(node ()) else TickAll)
        elif take p.Readys then (if rng.Below 3 = 0 then Ready(node ()) else ReadyAll)
        elif take p.Deliveries then (if rng.Below 3 = 0 then Deliver(rng.Below 1000) else Flush(rng.Next()))
        elif take p.Losses then (if rng.Below 2 = 0 then Drop(rng.Below 1000) else Duplicate(rng.Below 1000))
        elif take p.Proposals then Propose(node ())
        elif take p.ConfChanges then ConfChange(rng.Below 4, node ())
        elif take p.Partitions then (if rng.Below 3 = 0 then Partition(1 + rng.Below((1 <<< u) - 2)) else Heal)
        elif take p.Crashes then Crash(node ())
        else Compact(node ()))

let generate (nodes: int) (steps: int) (seed: uint64) = generateWith Profile.standard nodes steps seed

let private config (seed: uint64) (id: uint64) =
    { Config.defaults id with
        // Short timeouts, so that a few hundred events see several elections.
        ElectionTick = 5
        // Half the seeds run with PreVote, half with CheckQuorum, independently of each other
        // and of the cluster size (which the tests pick by the seed's parity).
        PreVote = (seed / 2UL) % 2UL = 0UL
        CheckQuorum = (seed / 4UL) % 2UL = 0UL
        // A quarter of the seeds send one entry per append.
        MaxSizePerMsg = (if (seed / 8UL) % 4UL = 0UL then 0UL else 256UL)
        MaxInflightMsgs = 8
        Seed = Some(seed * 1000UL + id) }

let private sameEntry (a: Entry) (b: Entry) =
    a.Term = b.Term && a.Index = b.Index && a.Type = b.Type && (obj.ReferenceEquals(a.Data, b.Data) || a.Data.AsSpan().SequenceEqual(b.Data))

let private describe (e: Entry) = Describe.entry e

/// Runs the events from the start; returns what the run exercised, or the first violation.
let run (variant: Variant) (nodes: int) (seed: uint64) (events: Event[]) : Result<Stats, Violation> =
    let u = nodes + 1
    let ids = [ 1UL .. uint64 u ]
    let cfg = config seed
    let voters = Member.confState [ 1UL .. uint64 nodes ] []
    let mutable members: Map<uint64, Member> =
        ids
        |> List.map (fun id -> id, (if id <= uint64 nodes then Member.create (cfg id) voters else Member.createJoining (cfg id)))
        |> Map.ofList
    let mutable inFlight: Message list = []
    let mutable partition = 0
    let mutable proposals = 0
    // What the checker remembers, local to this run.
    let truth = Dictionary<uint64, struct (Entry * uint64)>() // index -> entry, term it was committed in
    let mutable truthMax = 0UL
    let registry = Dictionary<struct (uint64 * uint64), struct (Entry * uint64)>() // (index, term) -> entry, previous term
    let leaderOfTerm = Dictionary<uint64, uint64>()
    let persisted = Dictionary<uint64, HardState>()
    let inMemoryCommit = Dictionary<uint64, uint64>()
    let applied = Dictionary<uint64, uint64>()
    let lastLog = Dictionary<uint64, RaftLog>()
    let mutable confChanges = 0
    let mutable snapshots = 0
    let mutable restarts = 0
    let mutable maxTerm = 0UL
    let restarted = HashSet<uint64>()
    // The first violation found; the checks go on after it but change nothing that counts.
    let mutable found: (string * string) option = None
    let violated property detail = if found.IsNone then found <- Some(property, detail)

    let side (id: uint64) = (partition >>> int (id - 1UL)) &&& 1
    let get id = members[id]
    let set id m = members <- Map.add id m members

    let isPresent (id: uint64) (index: uint64) (term: uint64) =
        match MemoryStorage.term index (Member.storage (get id)) with
        | Ok t -> t = term
        | Error ErrCompacted -> true // applied and compacted away
        | Error _ -> false

    let handleReady (id: uint64) =
        let m = get id
        if RawNode.hasReady m.Rn then
            let before = Member.raft m
            let oldCommit = (MemoryStorage.hardState (Member.storage m)).Commit
            let m', msgs = Member.handleReady m
            if m'.SnapshotIndex <> m.SnapshotIndex then snapshots <- snapshots + 1
            confChanges <- confChanges + (m'.Applied |> List.takeWhile (fun e -> e.Index > Member.appliedIndex m) |> List.filter (fun e -> e.Type <> EntryNormal) |> List.length)
            set id m'
            inFlight <- inFlight @ msgs
            // A leader records a commit only for entries a quorum (of the configuration it
            // counted with) holds in stable storage.
            let newCommit = (MemoryStorage.hardState (Member.storage m')).Commit
            if before.State = StateLeader && newCommit > oldCommit then
                for i in oldCommit + 1UL .. newCommit do
                    match RaftLog.term i before.RaftLog with
                    | Ok t ->
                        let onQuorum =
                            JointConfig.voteResultBy (fun v -> ValueSome(Map.containsKey v members && isPresent v i t)) before.Prs.Config.Voters
                        if onQuorum <> VoteWon then
                            violated "committed entry on a quorum" (sprintf "%d committed %d/%d, which a quorum of %O does not hold" id t i before.Prs.Config)
                    | Error _ -> ()

    let deliver (msg: Message) =
        let msg =
            match variant, msg.Type with
            | VotesIgnoringLogs, (MsgVote | MsgPreVote) -> { msg with LogTerm = UInt64.MaxValue; Index = UInt64.MaxValue }
            | AppendsWithoutConsistencyCheck, MsgApp ->
                match Map.tryFind msg.To members with
                | Some m when msg.Index <= RaftLog.lastIndex (Member.raft m).RaftLog ->
                    match RaftLog.term msg.Index (Member.raft m).RaftLog with
                    | Ok t -> { msg with LogTerm = t }
                    | Error _ -> msg
                | _ -> msg
            | _ -> msg
        if side msg.From = side msg.To then
            match Map.tryFind msg.To members with
            | Some m -> set msg.To (fst (Member.tryMap (RawNode.step msg) m))
            | None -> ()

    let takeAt (pick: int) =
        match inFlight with
        | [] -> None
        | _ ->
            let k = pick % inFlight.Length
            let msg = inFlight[k]
            inFlight <- List.removeAt k inFlight
            Some msg

    let leader () =
        members
        |> Map.toList
        |> List.map snd
        |> List.filter (fun m -> (Member.raft m).State = StateLeader)
        |> List.sortByDescending (fun m -> (Member.raft m).Term)
        |> List.tryHead

    let confChange (kind: int) (target: uint64) =
        match leader () with
        | None -> ()
        | Some l ->
            let r = Member.raft l
            let cfg = r.Prs.Config
            if not (JointConfig.isJoint cfg.Voters) then
                let vs = JointConfig.ids cfg.Voters |> MajorityConfig.toList
                let isVoter = List.contains target vs
                let single t = Some(V2 { Transition = ConfChangeTransitionAuto; Changes = [ { Type = t; NodeID = target } ]; Context = [||] })
                let cc =
                    match kind with
                    | 0 when not isVoter -> single ConfChangeAddNode
                    // Keep two voters at least, and do not remove the leader (etcd's hosts step a
                    // removed leader down themselves; this cluster has no such host logic).
                    | 1 when target <> r.Id && (not isVoter || vs.Length > 2) -> single ConfChangeRemoveNode
                    | 2 when target <> r.Id && (not isVoter || vs.Length > 2) -> single ConfChangeAddLearnerNode
                    | 3 when not isVoter ->
                        match vs |> List.filter (fun v -> v <> r.Id) with
                        | out :: _ ->
                            Some(
                                V2
                                    { Transition = ConfChangeTransitionAuto
                                      Changes = [ { Type = ConfChangeAddNode; NodeID = target }; { Type = ConfChangeRemoveNode; NodeID = out } ]
                                      Context = [||] }
                            )
                        | [] -> None
                    | _ -> None
                match cc with
                | Some cc -> set r.Id (fst (Member.tryMap (RawNode.proposeConfChange cc) l))
                | None -> ()

    let crash (id: uint64) =
        let m = get id
        let storage = Member.storage m
        let storage =
            match variant with
            | ForgetsVoteOnRestart -> MemoryStorage.setHardState { MemoryStorage.hardState storage with Vote = 0UL } storage
            | _ -> storage
        let snap = MemoryStorage.snapshot storage
        let rn = RawNode.create { cfg id with Applied = snap.Metadata.Index } storage
        set
            id
            { Rn = withoutLogs rn
              Applied = []
              SnapshotIndex = snap.Metadata.Index
              ConfState = snap.Metadata.ConfState
              ReadStates = [] }
        restarts <- restarts + 1
        restarted.Add id |> ignore

    let apply (step: int) (ev: Event) =
        // Events name nodes 1..u; any int maps onto one.
        let node (k: int) = uint64 ((k - 1 + u) % u) + 1UL
        match ev with
        | TickAll -> for id in ids do set id (Member.map RawNode.tick (get id))
        | Tick k -> set (node k) (Member.map RawNode.tick (get (node k)))
        | ReadyAll -> for id in ids do handleReady id
        | Ready k -> handleReady (node k)
        | Flush s ->
            let rng = Rng s
            let msgs = inFlight |> List.map (fun m -> rng.Next(), m) |> List.sortBy fst |> List.map snd
            inFlight <- []
            for msg in msgs do
                match rng.Below 20 with
                | 0 -> () // lost
                | 1 ->
                    deliver msg
                    deliver msg
                | _ -> deliver msg
        | Deliver p -> takeAt p |> Option.iter deliver
        | Drop p -> takeAt p |> ignore
        | Duplicate p ->
            match takeAt p with
            | Some msg ->
                deliver msg
                inFlight <- inFlight @ [ msg ]
            | None -> ()
        | Propose k ->
            proposals <- proposals + 1
            let data = Text.Encoding.UTF8.GetBytes(sprintf "p%d@%d" proposals step)
            set (node k) (fst (Member.tryMap (RawNode.propose data) (get (node k))))
        | ConfChange(kind, k) -> confChange kind (node k)
        | Partition mask -> partition <- mask
        | Heal -> partition <- 0
        | Crash k -> crash (node k)
        | Compact k -> set (node k) (Member.compact (get (node k)))

    let check () =
        for id in ids do
            let m = get id
            let r = Member.raft m
            let l = r.RaftLog
            maxTerm <- max maxTerm r.Term
            // At most one leader per term.
            if r.State = StateLeader then
                match leaderOfTerm.TryGetValue r.Term with
                | true, other when other <> id -> violated "one leader per term" (sprintf "%d and %d both led term %d" other id r.Term)
                | true, _ -> ()
                | false, _ -> leaderOfTerm[r.Term] <- id
            // Persisted term and commit never go back, restarts included; nor does applied, nor
            // the commit index in memory except by a restart (to the persisted one).
            let hs = MemoryStorage.hardState (Member.storage m)
            match persisted.TryGetValue id with
            | true, prev ->
                if hs.Term < prev.Term then violated "term never goes back" (sprintf "%d persisted term %d after %d" id hs.Term prev.Term)
                if hs.Commit < prev.Commit then violated "commit never goes back" (sprintf "%d persisted commit %d after %d" id hs.Commit prev.Commit)
            | _ -> ()
            match inMemoryCommit.TryGetValue id with
            | true, prev when l.Committed < prev && not (restarted.Contains id) ->
                violated "commit never goes back" (sprintf "%d's commit index went from %d to %d" id prev l.Committed)
            | _ -> ()
            let appliedNow = Member.appliedIndex m
            match applied.TryGetValue id with
            | true, prev when appliedNow < prev -> violated "applied never goes back" (sprintf "%d's applied index went from %d to %d" id prev appliedNow)
            | _ -> ()
            // Newly persisted commits define the committed entries.
            let prevCommit = match persisted.TryGetValue id with | true, p -> p.Commit | _ -> 0UL
            let storage = Member.storage m
            for i in prevCommit + 1UL .. hs.Commit do
                if i >= MemoryStorage.firstIndex storage then
                    match MemoryStorage.entries i (i + 1UL) UInt64.MaxValue storage with
                    | Ok [| e |] ->
                        match truth.TryGetValue i with
                        | true, struct (t, _) when not (sameEntry t e) ->
                            violated "committed entries never change" (sprintf "%d committed %s where %s was committed" id (describe e) (describe t))
                        | true, _ -> ()
                        | false, _ ->
                            truth[i] <- struct (e, hs.Term)
                            truthMax <- max truthMax i
                    | _ -> violated "committed entry on a quorum" (sprintf "%d persisted commit %d without entry %d" id hs.Commit i)
            persisted[id] <- hs
            inMemoryCommit[id] <- l.Committed
            // The state machine applies only committed entries, each the committed one.
            if appliedNow > (match applied.TryGetValue id with | true, a -> a | _ -> 0UL) then
                for e in m.Applied |> List.takeWhile (fun e -> e.Index > (match applied.TryGetValue id with | true, a -> a | _ -> 0UL)) do
                    match truth.TryGetValue e.Index with
                    | true, struct (t, _) when sameEntry t e -> ()
                    | true, struct (t, _) -> violated "committed entries never change" (sprintf "%d applied %s where %s was committed" id (describe e) (describe t))
                    | false, _ -> violated "committed entries never change" (sprintf "%d applied %s, which is not known committed" id (describe e))
            applied[id] <- appliedNow
            // Log checks, when the log changed.
            let changed =
                match lastLog.TryGetValue id with
                | true, prev -> not (obj.ReferenceEquals(prev, l))
                | _ -> true
            if changed || r.State = StateLeader then
                lastLog[id] <- l
                let ents = RaftLog.allEntries l
                for k in 0 .. ents.Count - 1 do
                    let e = ents[k]
                    let prevTerm = match RaftLog.term (e.Index - 1UL) l with | Ok t -> t | Error _ -> UInt64.MaxValue
                    // Log matching.
                    match registry.TryGetValue(struct (e.Index, e.Term)) with
                    | true, struct (other, otherPrev) ->
                        if not (sameEntry other e) || (prevTerm <> UInt64.MaxValue && otherPrev <> UInt64.MaxValue && prevTerm <> otherPrev) then
                            violated "log matching" (sprintf "%d holds %s after term %d; another log holds %s after term %d" id (describe e) prevTerm (describe other) otherPrev)
                    | false, _ -> registry[struct (e.Index, e.Term)] <- struct (e, prevTerm)
                    // The committed prefix is the committed entries.
                    if e.Index <= l.Committed then
                        match truth.TryGetValue e.Index with
                        | true, struct (t, _) when not (sameEntry t e) ->
                            violated "committed entries never change" (sprintf "%d's committed prefix holds %s where %s was committed" id (describe e) (describe t))
                        | _ -> ()
                // Leader completeness: every entry committed in an earlier term is in the log.
                if r.State = StateLeader then
                    let first = RaftLog.firstIndex l
                    let last = RaftLog.lastIndex l
                    for i in first .. truthMax do
                        match truth.TryGetValue i with
                        | true, struct (t, commitTerm) when commitTerm < r.Term ->
                            if i > last || not (sameEntry ents[int (i - first)] t) then
                                violated "leader completeness" (sprintf "%d leads term %d without %s, committed in term %d" id r.Term (describe t) commitTerm)
                        | _ -> ()
        restarted.Clear()

    let mutable result = None
    let mutable step = 0
    check ()
    while result.IsNone && step < events.Length do
        try
            apply step events[step]
            check ()
        with BrokenInvariant text ->
            // Where etcd would panic.
            violated "no broken invariant" text
        match found with
        | Some(p, d) -> result <- Some { Step = step; Property = p; Detail = d }
        | None -> ()
        step <- step + 1
    match result with
    | Some v -> Error v
    | None ->
        Ok
            { Committed = truth.Count
              Leaders = leaderOfTerm.Count
              MaxTerm = maxTerm
              ConfChanges = confChanges
              Snapshots = snapshots
              Restarts = restarts }

/// The shortest sub-list of `events` found that still violates the same property (greedy
/// removal of chunks, halving the chunk size down to single events).
let shrink (variant: Variant) (nodes: int) (seed: uint64) (events: Event[]) (property: string) : Event[] * Violation =
    let fails (evs: Event[]) =
        match run variant nodes seed evs with
        | Error v when v.Property = property -> Some v
        | _ -> None
    let mutable current =
        match fails events with
        | Some v -> events[.. v.Step]
        | None -> events
    let mutable chunk = max 1 (current.Length / 2)
    while chunk >= 1 do
        let mutable i = 0
        while i < current.Length do
            let candidate = Array.append current[.. i - 1] current[i + chunk ..]
            match fails candidate with
            | Some v -> current <- candidate[.. v.Step]
            | None -> i <- i + chunk
        chunk <- chunk / 2
    let v =
        match fails current with
        | Some v -> v
        | None -> failwith "shrinking lost the failure"
    current, v

/// A failure report: the seed, the violation and the shrunk trace that reproduces it.
let report (variant: Variant) (nodes: int) (seed: uint64) (steps: int) (v: Violation) =
    let events = generate nodes steps seed
    let trace, sv = shrink variant nodes seed events v.Property
    let sb = Text.StringBuilder()
    sb.AppendFormat("seed {0} ({1} nodes, {2}): {3} at step {4}: {5}\n", seed, nodes, variant, v.Property, v.Step, v.Detail) |> ignore
    sb.AppendFormat("shortest trace found, {0} of {1} events (fails at its last: {2}):\n", trace.Length, v.Step + 1, sv.Detail) |> ignore
    trace |> Array.iteri (fun i e -> sb.AppendFormat("  {0,4}: {1}\n", i, sprintf "%A" e) |> ignore)
    sb.ToString()
