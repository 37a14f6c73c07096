/// etcd raft 3.5's interaction harness (rafttest/interaction_env*.go) over our RawNode: a group of
/// nodes with MemoryStorage, the messages in flight between them, and one command per directive.
/// Log lines the nodes return are printed where etcd's redirecting logger would print them.
///
/// Beyond etcd 3.5's commands (whose behaviour is unchanged) the harness has a few of our own:
///   - `plan <id>` prints the plan (Core.fs) that node's current Ready would get, without taking
///     the Ready (`process-ready` or `stabilize` then handles it as usual), or `no Ready`. The
///     planner remembers what every Ready the node handed out told it; its clock moves one
///     heartbeat interval (100ms) per tick; no member counts as removed.
///   - for our scripts under Tests/Core.Tests/testdata/interaction: config options on `add-nodes`
///     (prevote, checkquorum, read-only, inflight, max-size-per-msg, max-uncommitted-size,
///     max-committed-size-per-ready, disable-proposal-forwarding) and the commands
///     `tick-election`, `set-randomized-election-timeout`, `transfer-leadership`, `read-index` and
///     `report-unreachable`, `send-snapshot`; on `propose-conf-change`, `id=<n>` (v1 only) and `context=<text>`
///     (its UTF-8 bytes) set the conf change's ID and Context, which etcd's harness leaves zero.
module Raft.Core.Tests.InteractionHarness

open System
open System.Text
open Raft.Core
open Raft.Core.Tests.DataDriven

/// etcd's level names; NONE silences everything but errors of the harness itself.
let private lvlNames = [| "DEBUG"; "INFO"; "WARN"; "ERROR"; "FATAL"; "NONE" |]

let private levelNumber =
    function
    | LogLevel.Debug -> 0
    | LogLevel.Info -> 1
    | LogLevel.Warn -> 2
    | LogLevel.Error -> 3
    | LogLevel.Fatal -> 4

/// A failed command; its text is printed as the command's output.
exception private HarnessError of string

let private fail text = raise (HarnessError text)

type private Node =
    { mutable Rn: RawNode
      Config: Config
      /// The snapshots of the "appender" state machine after each applied entry, oldest first.
      History: ResizeArray<Snapshot>
      /// The planner's state as of the last Ready the node handed out (see `plan`).
      mutable Planner: PlannerState
      /// Heartbeat ticks so far: the planner's clock, one heartbeat interval per tick.
      mutable Ticks: int64 }

/// The heartbeat interval the planner's clock counts in (HeartbeatTick is 1 here).
let private heartbeatInterval = TimeSpan.FromMilliseconds 100.0

type private Env() =
    let nodes = ResizeArray<Node>()
    let mutable messages: Message list = []
    let mutable output = StringBuilder()
    let mutable lvl = 0

    member _.Nodes = nodes
    member _.Output = output
    member _.Level = lvl

    member _.Write(s: string) = output.Append(s) |> ignore

    member _.ResetOutput() = output <- StringBuilder()

    member _.LogLevel(name: string) =
        match lvlNames |> Array.tryFindIndex (fun s -> String.Equals(s, name, StringComparison.OrdinalIgnoreCase)) with
        | Some i -> lvl <- i
        | None -> fail (sprintf "log levels must be either of [%s]" (String.Join(" ", lvlNames)))

    /// Prints what the node logged since the last drain (as etcd's RedirectLogger does).
    member env.Drain(idx: int) =
        let struct (lines, rn) = RawNode.drainLogs nodes[idx].Rn
        nodes[idx].Rn <- rn
        for l in lines do
            let n = levelNumber l.Level
            if lvl <= n then
                output.Append(lvlNames[n]).Append(' ').Append(l.Text).Append('\n') |> ignore

    /// Runs `f` on node idx and prints its log lines.
    member env.On(idx: int, f: RawNode -> RawNode) =
        nodes[idx].Rn <- f nodes[idx].Rn
        env.Drain idx

    /// Output of `f` indented by two spaces (etcd's withIndent).
    member env.WithIndent(f: unit -> unit) =
        let orig = output
        output <- StringBuilder()
        try
            f ()
        finally
            let inner = output.ToString()
            output <- orig
            // bufio.Scanner splits on '\n' and drops a final empty line.
            let lines = inner.Split('\n')
            let lines = if lines.Length > 0 && lines[lines.Length - 1] = "" then lines[.. lines.Length - 2] else lines
            for line in lines do
                orig.Append("  ").Append(line.TrimEnd('\r')).Append('\n') |> ignore

    member env.AddNodes(n: int, snap: Snapshot, configure: Config -> Config) =
        let bootstrap = snap <> Pb.emptySnapshot
        let mutable snap = snap
        for _ in 1..n do
            let id = uint64 (1 + nodes.Count)
            let mutable storage = MemoryStorage.empty
            if bootstrap then
                // MemoryStorage needs a first index above 1 to start from a snapshot.
                if snap.Metadata.Index <= 1UL then
                    fail "index must be specified as > 1 due to bootstrap"
                snap <- { snap with Metadata = { snap.Metadata with Term = 1UL } }
                match MemoryStorage.applySnapshot snap storage with
                | Ok s -> storage <- s
                | Error e -> fail (StorageError.message e)
                let fi = MemoryStorage.firstIndex storage
                if fi <> snap.Metadata.Index + 1UL then
                    fail (sprintf "failed to establish first index %d; got %d" (snap.Metadata.Index + 1UL) fi)
            let cfg =
                { Config.defaults id with
                    Applied = snap.Metadata.Index
                    ElectionTick = 3
                    HeartbeatTick = 1
                    MaxSizePerMsg = UInt64.MaxValue
                    MaxInflightMsgs = Int32.MaxValue }
                |> configure
            match Config.validate cfg with
            | Error e -> fail e
            | Ok _ -> ()
            let rn = RawNode.create cfg storage
            nodes.Add(
                { Rn = rn
                  Config = cfg
                  History = ResizeArray [ snap ]
                  Planner = Planner.initial
                  Ticks = 0L }
            )
            env.Drain(nodes.Count - 1)

    /// What the planner is told about node idx's Ready. Nobody is removed (the harness has no
    /// membership beyond raft's own).
    member env.PlanInput(idx: int, rd: Ready) : PlanInput =
        let node = nodes[idx]
        { Ready = rd
          IsRemoved = fun _ -> false
          Now = TimeSpan.FromTicks(heartbeatInterval.Ticks * node.Ticks)
          HeartbeatInterval = heartbeatInterval }

    /// The plan node idx's current Ready would get, leaving the Ready (and the planner state) as
    /// they are.
    member env.Plan(idx: int) =
        let node = nodes[idx]
        if RawNode.hasReady node.Rn then
            let p = Planner.plan (env.PlanInput(idx, RawNode.peekReady node.Rn)) node.Planner
            output.Append(PlanText.describe p.Effects) |> ignore
        else
            output.Append("no Ready\n") |> ignore

    member env.ProcessReady(idx: int) =
        let node = nodes[idx]
        let struct (rd, rn) = RawNode.ready node.Rn
        node.Rn <- rn
        // Every Ready handed out goes through the planner, so that `plan` knows what the seed's
        // loop would remember (the leader, the heartbeat times).
        node.Planner <- (Planner.plan (env.PlanInput(idx, rd)) node.Planner).State
        output.Append(Describe.ready rd) |> ignore
        if not (Pb.isEmptyHardState rd.HardState) then
            env.On(idx, RawNode.setHardState rd.HardState)
        env.On(idx, RawNode.appendToStorage rd.Entries)
        if not (Pb.isEmptySnap rd.Snapshot) then
            match RawNode.applySnapshotToStorage rd.Snapshot node.Rn with
            | Ok rn -> node.Rn <- rn
            | Error e -> fail (StorageError.message e)
        for ent in rd.CommittedEntries do
            let update, cs =
                match Codec.confChangeOfEntry ent with
                | None -> ent.Data, None
                | Some(Error e) -> fail e
                | Some(Ok cc) ->
                    let struct (rn, cs) = RawNode.applyConfChange cc node.Rn
                    node.Rn <- rn
                    env.Drain idx
                    let ctx =
                        match cc with
                        | V1 c -> c.Context
                        | V2 c -> c.Context
                    ctx, Some cs
            // The "appender" state machine: its state is the concatenation of all updates.
            let last = node.History[node.History.Count - 1]
            let cs = defaultArg cs last.Metadata.ConfState
            let snap =
                { Data = Array.append last.Data update
                  Metadata = { Index = ent.Index; Term = ent.Term; ConfState = cs } }
            node.History.Add snap
            // etcd's harness hands the newest of these snapshots to raft when it asks its storage
            // for one; recording it in the storage does the same.
            match RawNode.createSnapshot snap.Metadata.Index (Some cs) snap.Data node.Rn with
            | Ok(_, rn) -> node.Rn <- rn
            | Error ErrSnapOutOfDate -> ()
            | Error e -> fail (StorageError.message e)
        messages <- messages @ List.ofArray rd.Messages
        env.On(idx, RawNode.advance rd)

    /// Delivers (or drops) the messages to each recipient in turn; returns how many were handled.
    member env.DeliverMsgs(rs: (uint64 * bool) list) =
        let mutable n = 0
        for id, drop in rs do
            let toMsgs = messages |> List.filter (fun m -> m.To = id)
            messages <- messages |> List.filter (fun m -> m.To <> id)
            n <- n + toMsgs.Length
            for m in toMsgs do
                if drop then output.Append("dropped: ") |> ignore
                output.Append(Describe.message m).Append('\n') |> ignore
                if not drop then
                    let toIdx = int (m.To - 1UL)
                    let struct (rn, res) = RawNode.step m nodes[toIdx].Rn
                    nodes[toIdx].Rn <- rn
                    env.Drain toIdx
                    match res with
                    | Ok() -> ()
                    | Error e -> output.Append(RaftError.message e).Append('\n') |> ignore
        n

    member env.Stabilize(idxs: int list) =
        let idxs = if idxs.IsEmpty then List.init nodes.Count id else idxs
        let mutable fin = false
        while not fin do
            let mutable fin' = true
            for idx in idxs do
                if RawNode.hasReady nodes[idx].Rn then
                    fin' <- false
                    let id = (RawNode.basicStatus nodes[idx].Rn).ID
                    output.AppendFormat("> {0} handling Ready\n", id) |> ignore
                    // Errors are ignored here, as etcd does.
                    env.WithIndent(fun () ->
                        try
                            env.ProcessReady(int id - 1)
                        with HarnessError _ ->
                            ())
            for idx in idxs do
                let id = (RawNode.basicStatus nodes[idx].Rn).ID
                if messages |> List.exists (fun m -> m.To = id) then
                    output.AppendFormat("> {0} receiving messages\n", id) |> ignore
                    env.WithIndent(fun () -> env.DeliverMsgs [ id, false ] |> ignore)
                    fin' <- false
            fin <- fin'

    member env.RaftLog(idx: int) =
        let s = RawNode.storage nodes[idx].Rn
        let fi = MemoryStorage.firstIndex s
        let li = MemoryStorage.lastIndex s
        if li < fi then
            output.AppendFormat("log is empty: first index={0}, last index={1}", fi, li) |> ignore
        else
            match MemoryStorage.entries fi (li + 1UL) UInt64.MaxValue s with
            | Ok ents -> output.Append(Describe.entries ents) |> ignore
            | Error e -> fail (StorageError.message e)

    member env.Compact(idx: int, newFirstIndex: uint64) =
        match RawNode.compact newFirstIndex nodes[idx].Rn with
        | Ok rn -> nodes[idx].Rn <- rn
        | Error e -> fail (StorageError.message e)
        env.RaftLog idx

    member env.Status(idx: int) =
        let st = RawNode.status nodes[idx].Rn
        output.Append(ProgressMap.toString st.Progress) |> ignore

    member env.Tick(idx: int, n: int) =
        for _ in 1..n do
            nodes[idx].Ticks <- nodes[idx].Ticks + 1L
            env.On(idx, RawNode.tick)

    /// Runs an operation that may fail with a RaftError; a failure becomes the command's output.
    /// Queues a message of our own making, delivered by `deliver-msgs` like any other.
    member _.Send(m: Message) = messages <- messages @ [ m ]

    member env.Try(idx: int, f: RawNode -> struct (RawNode * Result<unit, RaftError>)) =
        let struct (rn, res) = f nodes[idx].Rn
        nodes[idx].Rn <- rn
        env.Drain idx
        match res with
        | Ok() -> ()
        | Error e -> fail (RaftError.message e)

let private parseInt (s: string) =
    match Int32.TryParse s with
    | true, n -> n
    | _ -> failwithf "strconv.Atoi: parsing %s: invalid syntax" (Describe.quote (Encoding.UTF8.GetBytes s))

let private parseUint64 (s: string) =
    match UInt64.TryParse s with
    | true, n -> n
    | _ -> failwithf "strconv.ParseUint: parsing %s: invalid syntax" (Describe.quote (Encoding.UTF8.GetBytes s))

let private firstAsNodeIdx (d: TestData) = parseInt d.CmdArgs[0].Key - 1

/// The ids named by arguments without values, as node indexes.
let private nodeIdxs (d: TestData) =
    d.CmdArgs |> List.filter (fun a -> a.Vals.IsEmpty) |> List.map (fun a -> parseInt a.Key - 1)

/// Go's strconv.ParseBool.
let private parseBool (s: string) =
    match s with
    | "1" | "t" | "T" | "TRUE" | "true" | "True" -> true
    | "0" | "f" | "F" | "FALSE" | "false" | "False" -> false
    | _ -> fail (sprintf "strconv.ParseBool: parsing %s: invalid syntax" (Describe.quote (Encoding.UTF8.GetBytes s)))

let private handleAddNodes (env: Env) (d: TestData) =
    let n = parseInt d.CmdArgs[0].Key
    let mutable snap = Pb.emptySnapshot
    // Our extension (etcd 3.5's harness knows only voters, learners, index and content): the
    // config options below, so that our scripts can exercise them. Unknown keys are ignored, as
    // etcd does.
    let mutable configure: Config -> Config = id
    let setConfig f = configure <- configure >> f
    for arg in List.tail d.CmdArgs do
        for v in arg.Vals do
            let md = snap.Metadata
            match arg.Key with
            | "voters" ->
                snap <- { snap with Metadata = { md with ConfState = { md.ConfState with Voters = md.ConfState.Voters @ [ parseUint64 v ] } } }
            | "learners" ->
                snap <- { snap with Metadata = { md with ConfState = { md.ConfState with Learners = md.ConfState.Learners @ [ parseUint64 v ] } } }
            | "index" -> snap <- { snap with Metadata = { md with Index = parseUint64 v } }
            | "content" -> snap <- { snap with Data = Encoding.UTF8.GetBytes v }
            | "prevote" -> let b = parseBool v in setConfig (fun c -> { c with PreVote = b })
            | "checkquorum" -> let b = parseBool v in setConfig (fun c -> { c with CheckQuorum = b })
            | "read-only" ->
                let o =
                    match v with
                    | "safe" -> ReadOnlySafe
                    | "lease-based" -> ReadOnlyLeaseBased
                    | _ -> fail (sprintf "invalid read-only option %s" v)
                setConfig (fun c -> { c with ReadOnlyOption = o })
            | "inflight" -> let k = parseInt v in setConfig (fun c -> { c with MaxInflightMsgs = k })
            | "max-size-per-msg" -> let k = parseUint64 v in setConfig (fun c -> { c with MaxSizePerMsg = k })
            | "max-uncommitted-size" ->
                let k = parseUint64 v
                setConfig (fun c -> { c with MaxUncommittedEntriesSize = k })
            | "max-committed-size-per-ready" ->
                let k = parseUint64 v
                setConfig (fun c -> { c with MaxCommittedSizePerReady = k })
            | "disable-proposal-forwarding" ->
                let b = parseBool v
                setConfig (fun c -> { c with DisableProposalForwarding = b })
            | _ -> ()
    env.AddNodes(n, snap, configure)

let private handleDeliverMsgs (env: Env) (d: TestData) =
    let mutable rs = []
    for arg in d.CmdArgs do
        if arg.Vals.IsEmpty then
            rs <- rs @ [ parseUint64 arg.Key, false ]
        for v in arg.Vals do
            match arg.Key with
            | "drop" ->
                let id = parseUint64 v
                if rs |> List.exists (fun (r, _) -> r = id) then
                    failwithf "can't both deliver and drop msgs to %d" id
                rs <- rs @ [ id, true ]
            | _ -> ()
    if env.DeliverMsgs rs = 0 then
        env.Write "no messages\n"

let private handleProcessReady (env: Env) (d: TestData) =
    let idxs = nodeIdxs d
    for idx in idxs do
        if idxs.Length > 1 then
            env.Write(sprintf "> %d handling Ready\n" (idx + 1))
            env.WithIndent(fun () -> env.ProcessReady idx)
        else
            env.ProcessReady idx

let private handleProposeConfChange (env: Env) (d: TestData) =
    let idx = firstAsNodeIdx d
    let mutable v1 = false
    let mutable transition = ConfChangeTransitionAuto
    let mutable ccId = 0UL
    let mutable context: byte[] = [||]
    for arg in List.tail d.CmdArgs do
        for v in arg.Vals do
            match arg.Key with
            | "v1" -> v1 <- parseBool v
            | "id" ->
                match UInt64.TryParse v with
                | true, n -> ccId <- n
                | _ -> fail (sprintf "invalid id %s" v)
            | "context" -> context <- Encoding.UTF8.GetBytes v
            | "transition" ->
                transition <-
                    match v with
                    | "auto" -> ConfChangeTransitionAuto
                    | "implicit" -> ConfChangeTransitionJointImplicit
                    | "explicit" -> ConfChangeTransitionJointExplicit
                    | _ -> fail (sprintf "unknown transition %s" v)
            | k -> fail (sprintf "unknown command %s" k)
    let ccs =
        match Describe.confChangesFromString d.Input with
        | Ok ccs -> ccs
        | Error e -> fail e
    let cc =
        if v1 then
            if ccs.Length > 1 || transition <> ConfChangeTransitionAuto then
                fail "v1 conf change can only have one operation and no transition"
            V1 { ID = ccId; Type = ccs[0].Type; NodeID = ccs[0].NodeID; Context = context }
        elif ccId <> 0UL then
            fail "a v2 conf change has no id"
        else
            V2 { Transition = transition; Changes = ccs; Context = context }
    env.Try(idx, RawNode.proposeConfChange cc)

// Our extensions: commands etcd 3.5's harness does not have, for features its corpus does not
// exercise. Each drives the RawNode API the way a host would.

/// `tick-election <id>`: ticks an election timeout (ElectionTick ticks).
let private handleTickElection (env: Env) (d: TestData) =
    let idx = firstAsNodeIdx d
    env.Tick(idx, env.Nodes[idx].Config.ElectionTick)

/// `set-randomized-election-timeout <id> timeout=<ticks>`: pins the node's current randomized
/// election timeout (until its next reset draws a new one), so that scripts which let followers
/// time out do not depend on random draws.
let private handleSetRandomizedElectionTimeout (env: Env) (d: TestData) =
    let idx = firstAsNodeIdx d
    let timeout = parseInt (d.ArgValue "timeout")
    let rn = env.Nodes[idx].Rn
    env.Nodes[idx].Rn <- RawNode(Raft.withRandomizedElectionTimeout timeout rn, rn.PrevSoftSt, rn.PrevHardSt)

/// `transfer-leadership from=<leader> to=<transferee>`.
let private handleTransferLeadership (env: Env) (d: TestData) =
    let from = parseUint64 (d.ArgValue "from")
    let ``to`` = parseUint64 (d.ArgValue "to")
    env.On(int from - 1, RawNode.transferLeader ``to``)

/// `read-index <id> <request-context>`: a ReadIndex request; the answer shows up as ReadStates in
/// a later Ready.
let private handleReadIndex (env: Env) (d: TestData) =
    let idx = firstAsNodeIdx d
    if d.CmdArgs.Length <> 2 || not d.CmdArgs[1].Vals.IsEmpty then
        failwithf "expected exactly one key with no vals: %A" (List.tail d.CmdArgs)
    env.On(idx, RawNode.readIndex (Encoding.UTF8.GetBytes d.CmdArgs[1].Key))

/// `report-unreachable <id> <peer>`: the host could not send the last message to peer.
let private handleReportUnreachable (env: Env) (d: TestData) =
    let idx = firstAsNodeIdx d
    env.On(idx, RawNode.reportUnreachable (parseUint64 d.CmdArgs[1].Key))

/// `send-snapshot <from> <to> index=<i> term=<t> voters=(..) learners=(..) voters-outgoing=(..)
/// learners-next=(..) auto-leave=<bool>`: queues a MsgSnap from `from` (at its current term) to
/// `to` carrying a snapshot with that metadata and no data. A leader only sends the snapshot its
/// storage holds; this reaches what it never sends (a ConfState that leaves the receiver out).
let private handleSendSnapshot (env: Env) (d: TestData) =
    if d.CmdArgs.Length < 2 then fail "send-snapshot needs <from> <to>"
    let from = parseUint64 d.CmdArgs[0].Key
    let ``to`` = parseUint64 d.CmdArgs[1].Key
    let mutable md = { Pb.emptySnapshot.Metadata with ConfState = Pb.emptyConfState }
    let cs () = md.ConfState
    for arg in List.skip 2 d.CmdArgs do
        for v in arg.Vals do
            match arg.Key with
            | "index" -> md <- { md with Index = parseUint64 v }
            | "term" -> md <- { md with Term = parseUint64 v }
            | "voters" -> md <- { md with ConfState = { cs () with Voters = (cs ()).Voters @ [ parseUint64 v ] } }
            | "learners" -> md <- { md with ConfState = { cs () with Learners = (cs ()).Learners @ [ parseUint64 v ] } }
            | "voters-outgoing" -> md <- { md with ConfState = { cs () with VotersOutgoing = (cs ()).VotersOutgoing @ [ parseUint64 v ] } }
            | "learners-next" -> md <- { md with ConfState = { cs () with LearnersNext = (cs ()).LearnersNext @ [ parseUint64 v ] } }
            | "auto-leave" -> md <- { md with ConfState = { cs () with AutoLeave = parseBool v } }
            | k -> fail (sprintf "unknown argument %s" k)
    let term = (RawNode.raft env.Nodes[int from - 1].Rn).Term
    env.Send
        { Pb.emptyMessage with
            Type = MsgSnap
            From = from
            To = ``to``
            Term = term
            Snapshot = { Data = [||]; Metadata = md } }

/// Runs one directive (etcd's InteractionEnv.Handle).
let private handle (env: Env) (d: TestData) : string =
    env.ResetOutput()
    let err =
        try
            match d.Cmd with
            | "_breakpoint" -> ()
            | "add-nodes" -> handleAddNodes env d
            | "campaign" ->
                let idx = firstAsNodeIdx d
                env.Try(idx, RawNode.campaign)
            | "compact" ->
                let idx = firstAsNodeIdx d
                env.Compact(idx, parseUint64 d.CmdArgs[1].Key)
            | "deliver-msgs" -> handleDeliverMsgs env d
            | "plan" -> env.Plan(firstAsNodeIdx d)
            | "process-ready" -> handleProcessReady env d
            | "log-level" -> env.LogLevel d.CmdArgs[0].Key
            | "raft-log" -> env.RaftLog(firstAsNodeIdx d)
            | "stabilize" -> env.Stabilize(nodeIdxs d)
            | "status" -> env.Status(firstAsNodeIdx d)
            | "tick-heartbeat" ->
                let idx = firstAsNodeIdx d
                env.Tick(idx, env.Nodes[idx].Config.HeartbeatTick)
            | "propose" ->
                let idx = firstAsNodeIdx d
                if d.CmdArgs.Length <> 2 || not d.CmdArgs[1].Vals.IsEmpty then
                    failwithf "expected exactly one key with no vals: %A" (List.tail d.CmdArgs)
                env.Try(idx, RawNode.propose (Encoding.UTF8.GetBytes d.CmdArgs[1].Key))
            | "propose-conf-change" -> handleProposeConfChange env d
            // Our extensions.
            | "tick-election" -> handleTickElection env d
            | "set-randomized-election-timeout" -> handleSetRandomizedElectionTimeout env d
            | "transfer-leadership" -> handleTransferLeadership env d
            | "read-index" -> handleReadIndex env d
            | "report-unreachable" -> handleReportUnreachable env d
            | "send-snapshot" -> handleSendSnapshot env d
            | _ -> fail "unknown command"
            None
        with HarnessError e ->
            Some e
    err |> Option.iter env.Write
    // The highest level silences all output but errors; setup can be chatty.
    if env.Output.Length = 0 then "ok"
    elif env.Level = lvlNames.Length - 1 then defaultArg err "ok (quiet)"
    else env.Output.ToString()

/// A fresh environment per script.
let harness () : TestData -> string =
    let env = Env()
    handle env
