/// Values that share arrays with newer values stay what they were: Inflights windows and
/// outboxes (which append in place into a shared array) and Raft nodes (which an operation
/// copies once and then updates in place).
module Raft.Core.Tests.SharedStateTests

open Expecto
open Hedgehog
open Hedgehog.FSharp
open Raft.Core
open Raft.Core.Tests.PropertyCheck

/// The window operations under test, over some window type 'W.
type WindowOps<'W> =
    { Create: int -> 'W
      Add: uint64 -> 'W -> 'W
      FreeLE: uint64 -> 'W -> 'W
      Contents: 'W -> uint64 list }

/// An operation on the version picked by `From` (modulo the number of versions so far).
type WindowOp =
    | Add of From: int
    | Free of From: int * Keep: int

let private genOp =
    Gen.frequency
        [ 3, Hog.intIn 0 1000 |> Gen.map Add
          1, Gen.map2 (fun v k -> Free(v, k)) (Hog.intIn 0 1000) (Hog.intIn 0 8) ]

/// Runs the operations, each on some earlier version, and checks after each one that every
/// version still holds exactly what a plain list model says. Added indexes increase across all
/// versions, as a leader's do.
let private versionsStayIntact (ops: WindowOps<'W>) (program: WindowOp list) =
    let cap = 8
    let versions = ResizeArray<'W * uint64 list>([ ops.Create cap, [] ])
    let mutable next = 1UL
    program
    |> List.forall (fun op ->
        let w, model = versions[(match op with Add v | Free(v, _) -> v) % versions.Count]
        match op with
        | Add _ when List.length model < cap ->
            versions.Add(ops.Add next w, model @ [ next ])
            next <- next + 1UL
        | Add _ -> ()
        | Free(_, keep) ->
            // Free all but the newest `keep`.
            let drop = max 0 (List.length model - keep)
            if drop > 0 then versions.Add(ops.FreeLE model[drop - 1] w, List.skip drop model)
        versions |> Seq.forall (fun (w, model) -> ops.Contents w = model))

let private inflightsOps: WindowOps<Inflights> =
    { Create = Inflights.create
      Add = Inflights.add
      FreeLE = Inflights.freeLE
      Contents = Inflights.toList }

/// A deliberately broken window: it appends in place whenever its array has room, without
/// claiming the cell first, so it can overwrite a cell a newer window already holds.
type private Unclaimed = { Items: uint64[]; Start: int; N: int }

let private unclaimedOps: WindowOps<Unclaimed> =
    { Create = fun cap -> { Items = Array.zeroCreate (2 * cap); Start = 0; N = 0 }
      Add =
        fun i w ->
            if w.Start + w.N < w.Items.Length then
                w.Items[w.Start + w.N] <- i
                { w with N = w.N + 1 }
            else
                let items = Array.zeroCreate w.Items.Length
                Array.blit w.Items w.Start items 0 w.N
                items[w.N] <- i
                { Items = items; Start = 0; N = w.N + 1 }
      FreeLE =
        fun i w ->
            let mutable k = 0
            while k < w.N && w.Items[w.Start + k] <= i do
                k <- k + 1
            { w with Start = w.Start + k; N = w.N - k }
      Contents = fun w -> List.ofArray w.Items[w.Start .. w.Start + w.N - 1] }

let private windowsProperty ops =
    property {
        let! program = Hog.listOf genOp
        return versionsStayIntact ops program
    }

// ---- Outboxes ----------------------------------------------------------------------------------

/// The outbox operations under test, over some queue type 'Q.
type OutboxOps<'Q> =
    { Empty: 'Q
      /// No messages, expecting about this many before the next Ready.
      Expecting: int -> 'Q
      Add: Message -> 'Q -> 'Q
      Contents: 'Q -> Message list }

/// An operation on the version picked by `From` (modulo the number of versions so far).
type OutboxOp =
    | Enqueue of From: int
    | Take of From: int * Expected: int

let private genOutboxOp =
    Gen.frequency
        [ 5, Hog.intIn 0 1000 |> Gen.map Enqueue
          1, Gen.map2 (fun v n -> Take(v, n)) (Hog.intIn 0 1000) (Hog.intIn 0 12) ]

/// Runs the operations, each on some earlier version, and checks after each one that every
/// version still holds exactly the messages a plain list model says, in order.
let private outboxesStayIntact (ops: OutboxOps<'Q>) (program: OutboxOp list) =
    let versions = ResizeArray<'Q * Message list>([ ops.Empty, [] ])
    let mutable next = 1UL
    program
    |> List.forall (fun op ->
        match op with
        | Enqueue v ->
            let q, model = versions[v % versions.Count]
            let m = { Pb.emptyMessage with Type = MsgApp; Index = next }
            next <- next + 1UL
            versions.Add(ops.Add m q, model @ [ m ])
        | Take(v, n) ->
            // What a Ready leaves: nothing, expecting as many messages as it took (or n).
            let _, model = versions[v % versions.Count]
            versions.Add(ops.Expecting(max n model.Length), [])
        versions |> Seq.forall (fun (q, model) -> ops.Contents q = model))

let private outboxOps: OutboxOps<Outbox> =
    { Empty = Outbox.Empty
      Expecting = Outbox.Expecting
      Add = fun m q -> q.Add m
      Contents = fun q -> List.ofArray (q.AsSpan().ToArray()) }

/// A deliberately broken outbox: it writes the cell after its messages whenever its array has
/// room, without claiming it, so it can overwrite a message a newer version holds.
type private UnclaimedOutbox = { Items: Message[]; Start: int; Count: int }

let private unclaimedOutboxOps: OutboxOps<UnclaimedOutbox> =
    let add (m: Message) (q: UnclaimedOutbox) =
        if q.Start + q.Count < q.Items.Length then
            q.Items[q.Start + q.Count] <- m
            { q with Count = q.Count + 1 }
        else
            let items = Array.zeroCreate (max 4 (2 * (q.Count + 1)))
            Array.blit q.Items q.Start items 0 q.Count
            items[q.Count] <- m
            { Items = items; Start = 0; Count = q.Count + 1 }
    { Empty = { Items = [||]; Start = 0; Count = 0 }
      Expecting = fun n -> { Items = Array.zeroCreate (max 4 n); Start = 0; Count = 0 }
      Add = add
      Contents = fun q -> List.ofArray q.Items[q.Start .. q.Start + q.Count - 1] }

let private outboxesProperty ops =
    property {
        let! program = Hog.listOf genOutboxOp
        return outboxesStayIntact ops program
    }

// ---- Raft nodes --------------------------------------------------------------------------------

/// What a caller can see of a node: its status, its pending Ready (without taking it), the
/// messages and log lines it holds and its storage's bounds.
let private fingerprint (rn: RawNode) =
    let r = RawNode.raft rn
    let storage = RawNode.storage rn
    sprintf
        "%s|%b|%s|%d|%d|%d-%d|%s"
        (Status.toJson (RawNode.status rn))
        (RawNode.hasReady rn)
        (Describe.ready (RawNode.peekReady rn))
        r.Msgs.Length
        r.Logs.Length
        (MemoryStorage.firstIndex storage)
        (MemoryStorage.lastIndex storage)
        (RaftLog.describe r.RaftLog)

/// How the property steps a node; a broken variant substitutes it.
type private Stepper = Message -> RawNode -> struct (RawNode * Result<unit, RaftError>)

type private NodeOp =
    | Propose of From: int
    | Deliver of From: int
    | HandleReady of From: int * Node: int
    | Tick of From: int * Node: int

let private genNodeOp =
    Gen.frequency
        [ 2, Hog.intIn 0 1000 |> Gen.map Propose
          3, Hog.intIn 0 1000 |> Gen.map Deliver
          3, Gen.map2 (fun v k -> HandleReady(v, k)) (Hog.intIn 0 1000) (Hog.intIn 0 2)
          1, Gen.map2 (fun v k -> Tick(v, k)) (Hog.intIn 0 1000) (Hog.intIn 0 2) ]

/// Three nodes with node 1 elected, and the messages in flight between them.
let private electedCluster (step: Stepper) =
    let snap =
        { Data = [||]
          Metadata = { Index = 1UL; Term = 1UL; ConfState = { Pb.emptyConfState with Voters = [ 1UL; 2UL; 3UL ] } } }
    let storage =
        match MemoryStorage.applySnapshot snap MemoryStorage.empty with
        | Ok s -> s
        | Error e -> failwith (StorageError.message e)
    let nodes = Array.init 3 (fun i -> RawNode.create (Config.defaults (uint64 (i + 1))) storage)
    nodes[0] <- (let struct (rn, _) = RawNode.campaign nodes[0] in rn)
    let rec settle (queue: Message list) rounds =
        let mutable queue = queue
        for k in 0 .. 2 do
            if RawNode.hasReady nodes[k] then
                let struct (rd, rn) = RawNode.ready nodes[k]
                let rn = RawNode.appendToStorage rd.Entries rn
                let rn = if Pb.isEmptyHardState rd.HardState then rn else RawNode.setHardState rd.HardState rn
                queue <- queue @ List.ofArray rd.Messages
                nodes[k] <- RawNode.advance rd rn
        match queue with
        | [] when rounds > 0 -> ()
        | _ ->
            for m in queue do
                nodes[int m.To - 1] <- (let struct (rn, _) = step m nodes[int m.To - 1] in rn)
            settle [] (rounds + 1)
    settle [] 0
    nodes

/// Every node version the operations produce, from the cluster states reached so far, keeps
/// the fingerprint it had when it was made.
let private nodesStayIntact (step: Stepper) (program: NodeOp list) =
    // A cluster state: the three nodes and the messages in flight.
    let states = ResizeArray<RawNode[] * Message list>([ electedCluster step, [] ])
    let seen = ResizeArray<RawNode * string>()
    let record (nodes: RawNode[]) =
        for rn in nodes do
            seen.Add(rn, fingerprint rn)
    record (fst states[0])
    for op in program do
        let pick v = states[v % states.Count]
        let next =
            match op with
            | Propose v ->
                let nodes, queue = pick v
                let nodes = Array.copy nodes
                let prop =
                    { Pb.emptyMessage with
                        Type = MsgProp
                        From = 1UL
                        Entries = [| { Term = 0UL; Index = 0UL; Type = EntryNormal; Data = [| 1uy; 2uy |] } |] }
                nodes[0] <- (let struct (rn, _) = step prop nodes[0] in rn)
                nodes, queue
            | Deliver v ->
                let nodes, queue = pick v
                let nodes = Array.copy nodes
                for m in queue do
                    nodes[int m.To - 1] <- (let struct (rn, _) = step m nodes[int m.To - 1] in rn)
                nodes, []
            | HandleReady(v, k) ->
                let nodes, queue = pick v
                let nodes = Array.copy nodes
                if RawNode.hasReady nodes[k] then
                    let struct (rd, rn) = RawNode.ready nodes[k]
                    let rn = RawNode.appendToStorage rd.Entries rn
                    let rn = if Pb.isEmptyHardState rd.HardState then rn else RawNode.setHardState rd.HardState rn
                    nodes[k] <- RawNode.advance rd rn
                    nodes, queue @ List.ofArray rd.Messages
                else
                    nodes, queue
            | Tick(v, k) ->
                let nodes, queue = pick v
                let nodes = Array.copy nodes
                nodes[k] <- RawNode.tick nodes[k]
                nodes, queue
        states.Add next
        record (fst next)
    seen |> Seq.forall (fun (rn, fp) -> fingerprint rn = fp)

let private nodesProperty (step: Stepper) =
    property {
        let! program = Hog.listOf genNodeOp
        return nodesStayIntact step program
    }

/// A deliberately broken step: it updates the node in place instead of a copy of it.
let private stepInPlace: Stepper =
    fun m rn ->
        let res = Raft.InPlace.step m rn
        struct (rn, res)

[<Tests>]
let tests =
    testList "SharedState" [
        testCase "Inflights versions are unaffected by operations on other versions" <| fun () -> Hog.holdsBool (windowsProperty inflightsOps)

        testCase "the property catches windows that append over a newer window's cells" <| fun () ->
            Expect.isTrue (Hog.caughtBool (windowsProperty unclaimedOps)) ("sharing without claiming must break some version")

        testCase "Outbox versions are unaffected by messages added to other versions" <| fun () -> Hog.holdsBool (outboxesProperty outboxOps)

        testCase "the property catches outboxes that write over a newer version's messages" <| fun () ->
            Expect.isTrue (Hog.caughtBool (outboxesProperty unclaimedOutboxOps)) ("sharing without claiming must break some version")

        testCase "Raft nodes are unaffected by operations on newer nodes" <| fun () -> Hog.holdsBool (nodesProperty RawNode.step)

        testCase "the property catches a step that updates the node in place" <| fun () ->
            Expect.isTrue (Hog.caughtBool (nodesProperty stepInPlace)) ("stepping without a copy must change some older node")
    ]
