/// A seeded, deterministic simulation of whole nodes: each member is a RawNode driven by Core's
/// planner, whose effects an IEffectHandler runs against a simulated disk (a durable part and an
/// unsynced part) and a simulated network, with an apply loop run by Core's ApplyPlanner and
/// SnapshotPlanner over a key-value state machine. Power can fail at any effect boundary (between
/// Save and Sync too): the member keeps its durable records (and, if the event says so, a prefix of
/// the unsynced ones) and restarts through NodeBootstrap.restartNode from what its disk holds.
///
/// After every event the checker verifies: one leader per term; an entry applied anywhere at an
/// index is the entry every member applies (or holds committed after a restart) there; reads
/// served through ReadIndex are linearizable (never older than a write acknowledged, or a read
/// completed, before they were asked); a restarted member starts from its disk, with no term
/// older than one it sent messages in and the vote it gave in its term. At each power loss and at
/// the end (after the network heals and the cluster settles) every acknowledged write must be held
/// by a majority of the disks, and at the end applied by every member.
module Raft.Core.Tests.NodeSimulation

open Raft.Core.Tests.SimulationSupport

open System
open System.Collections.Generic
open System.Text
open Raft.Core

/// Core's planner, or one rearranged on purpose to break a rule the checker must catch.
type PlannerVariant =
    | CorePlanner
    /// etcd 3.5.4's order (before the fix for issue 14370): when committed entries overlap the
    /// unstable ones (a one-member cluster), the apply loop gets them before they are saved.
    | ApplyBeforeSave
    /// The seed's order that Core corrects (etcd issue 10219): with overlapping entries, the
    /// snapshot of the same Ready is saved after the entries that follow it.
    | SnapshotAfterEntries
    /// A disk write that never fsyncs (etcd's --unsafe-no-fsync).
    | SaveWithoutFsync
    /// Core's planner over a WAL read as etcd 3.5's WAL.ReadAll reads it (Shell/Wal/Wal.cs did too):
    /// an entry at or before the snapshot's index is skipped without discarding the entries read
    /// after it, so entries that a later record replaced survive a restart past a snapshot.
    | StaleWalReplay
    /// Core's planner, with reads answered from the member's applied state without ReadIndex
    /// (etcd's serializable reads, offered as linearizable).
    | LocalReads

/// One step of a run. Members are named 1..n (any int maps onto one); message picks are taken
/// modulo the number of messages in flight.
type Event =
    | TickAll
    | Tick of node: int
    /// The member's raft loop runs one effect of its plan, or takes and plans its next Ready.
    | RaftStep of node: int
    /// The member's apply loop works on its queue until it waits or its queue is empty.
    | ApplyStep of node: int
    /// Every member's raft loop runs until it has nothing to do, its apply loop after each effect.
    | RunAll
    /// Delivers everything in flight in an order drawn from the seed, losing or duplicating some.
    | Flush of seed: uint64
    | Deliver of pick: int
    | Drop of pick: int
    | Duplicate of pick: int
    /// A client writes a unique value to key `key` through the member.
    | Propose of node: int * key: int
    /// A client reads key `key` through the member (ReadIndex).
    | Read of node: int * key: int
    | Partition of mask: int
    | Heal
    /// Power loss: the member keeps its durable records and the first `keep` (modulo their number
    /// plus one) of its unsynced ones, and restarts from them.
    | Crash of node: int * keep: int
    /// The member starts an election.
    | Campaign of node: int
    /// RunAll and delivery in order, until nothing is in flight and no member has work (no ticks).
    | Settle
    /// Ticks and settles until some member leads (bounded).
    | Elect
    /// The member's raft loop runs until it has nothing to do, its apply loop after each effect.
    | Drain of node: int
    /// Delivers every message in flight to the member, oldest first.
    | DeliverTo of node: int
    /// Delivers the newest message in flight to the member.
    | DeliverNewest of node: int

/// What a run exercised.
type Stats =
    { Acknowledged: int
      ReadsChecked: int
      Crashes: int
      SnapshotsTaken: int
      SnapshotsRestored: int
      /// Readys with a snapshot whose committed entries overlap their unstable ones.
      SnapshotOverlaps: int
      Leaders: int
      /// Effects run by the raft loops (the crash points of an exhaustive run).
      Effects: int }

// ---------------------------------------------------------------------------------------------
// The disk.

/// A WAL record, in the order etcd's WAL.Save writes them (entries, then the hard state).
type Record =
    | HardStateRecord of HardState
    | EntriesRecord of Entry[]
    | SnapshotRecord of index: uint64 * term: uint64

/// One member's disk: WAL records that survive a power loss, those that do not (yet), and the snap
/// files (each written and fsynced whole).
type Disk =
    { Durable: Record list
      /// Newest first.
      Unsynced: Record list
      SnapFiles: Snapshot list }

module Disk =
    let sync (d: Disk) =
        { d with Durable = d.Durable @ List.rev d.Unsynced; Unsynced = [] }

    let append (rs: Record list) (d: Disk) =
        { d with Unsynced = List.rev rs @ d.Unsynced }

    /// etcd's Storage.SaveSnap: the snap file, then the WAL's snapshot record, which fsyncs the WAL.
    let saveSnapshot (snap: Snapshot) (d: Disk) =
        { d with SnapFiles = snap :: d.SnapFiles }
        |> append [ SnapshotRecord(snap.Metadata.Index, snap.Metadata.Term) ]
        |> sync

    /// A power cut: the durable records and the first `keep` unsynced ones, in order.
    let powerLoss (keep: int) (d: Disk) =
        let unsynced = List.rev d.Unsynced
        let kept = List.truncate (keep % (unsynced.Length + 1)) unsynced
        { d with Durable = d.Durable @ kept; Unsynced = [] }

    /// What a restart reads (etcd's bootstrap): the newest snap file the WAL has a record of, not
    /// beyond the last hard state's commit (ValidSnapshotEntries); the last hard state; the entries
    /// after the snapshot, a later record replacing what follows its first index (WAL.ReadAll); an
    /// entry beyond the end of what was read is a gap that stops the start, and so does a commit
    /// beyond the last entry (raft's loadState). The bootstrap snapshot at index 1 is always valid.
    /// An entry at or before the snapshot's index replaces every entry read after it: a record that
    /// rewrote the log from there was written after them (etcd's ReadAll keeps them when
    /// `keepStale`, which the StaleWalReplay variant shows to lose committed entries).
    let recoverWith (keepStale: bool) (records: Record list) (snapFiles: Snapshot list) : Result<NodeBootstrap.StorageImage, string> =
        let hs =
            records
            |> List.fold (fun acc r -> match r with HardStateRecord h -> h | _ -> acc) Pb.emptyHardState
        let walSnaps =
            records
            |> List.choose (fun r ->
                match r with
                | SnapshotRecord(i, t) when i <= hs.Commit || i = 1UL -> Some(i, t)
                | _ -> None)
            |> set
        let candidates =
            snapFiles |> List.filter (fun s -> walSnaps.Contains(s.Metadata.Index, s.Metadata.Term))
        match candidates with
        | [] -> Error "no snap file matches a snapshot record of the WAL"
        | _ ->
            let snap = candidates |> List.maxBy (fun s -> s.Metadata.Index)
            let start = snap.Metadata.Index
            let ents = ResizeArray<Entry>()
            let mutable err = None
            for r in records do
                match r with
                | EntriesRecord es when err.IsNone ->
                    for e in es do
                        if e.Index <= start && not keepStale then ents.Clear()
                        if err.IsNone && e.Index > start then
                            let up = int (e.Index - start - 1UL)
                            if up > ents.Count then
                                err <- Some(sprintf "the WAL holds entry %d/%d after entry %d: a gap" e.Term e.Index (start + uint64 ents.Count))
                            else
                                if up < ents.Count then ents.RemoveRange(up, ents.Count - up)
                                ents.Add e
                | _ -> ()
            let last = start + uint64 ents.Count
            match err with
            | Some e -> Error e
            | None when hs.Commit > last ->
                Error(sprintf "state.commit %d is out of range [%d, %d]" hs.Commit start last)
            | None ->
                let snapshot = if start = 0UL then None else Some snap
                NodeBootstrap.restartNode snapshot hs (ents.ToArray()) 0UL

    let recover (records: Record list) (snapFiles: Snapshot list) = recoverWith false records snapFiles

    /// Whether what a restart reads (`recover`'s image) holds entry index/term, or a snapshot past it.
    let holds (index: uint64) (term: uint64) (img: Result<NodeBootstrap.StorageImage, string>) =
        match img with
        | Error _ -> false
        | Ok img ->
            img.Snapshot.Metadata.Index >= index
            || (img.Entries.Length > 0
                && index >= img.Entries[0].Index
                && index - img.Entries[0].Index < uint64 img.Entries.Length
                && img.Entries[int (index - img.Entries[0].Index)].Term = term)

// ---------------------------------------------------------------------------------------------
// The planners.

/// The plan for one Ready: Core's, or rearranged as the variant says (as a broken host would).
let planWith (variant: PlannerVariant) (input: PlanInput) (state: PlannerState) : Plan =
    let plan = Planner.plan input state
    let effects = List.toArray plan.Effects
    let indexOf f = Array.tryFindIndex f effects
    let isSave = function Save _ -> true | _ -> false
    let isApply = function Apply _ -> true | _ -> false
    let isSaveSnapshot = function SaveSnapshot _ -> true | _ -> false
    let moveAfter (from: int) (anchor: Effect -> bool) (replacement: Effect) =
        let rest = effects |> Array.removeAt from |> List.ofArray
        let at = (List.findIndex anchor rest) + 1
        { plan with Effects = List.insertAt at replacement rest }
    match variant with
    | CorePlanner
    | SaveWithoutFsync
    | StaleWalReplay
    | LocalReads -> plan
    | ApplyBeforeSave ->
        match indexOf isSave, indexOf isApply with
        | Some s, Some a when s < a ->
            match effects[s] with
            | Save(hs, ents, mustSync, _) -> moveAfter s isApply (Save(hs, ents, mustSync, Guards.save RaftBeforeSave))
            | _ -> plan
        | _ -> plan
    | SnapshotAfterEntries ->
        // Core saves the snapshot ahead of the overlapping entries; the seed saved the entries first.
        match indexOf isSaveSnapshot, indexOf isSave with
        | Some sn, Some s when sn < s -> moveAfter sn isSave effects[sn]
        | _ -> plan

// ---------------------------------------------------------------------------------------------
// The members.

/// The seed's notifyc of one Ready: the notifies posted by the raft loop and taken by the apply loop.
type private Notify() =
    member val Posted = 0 with get, set
    member val Taken = 0 with get, set

type private ApplyItem = { Entries: Entry[]; Snapshot: Snapshot; Notify: Notify }

type private PendingRead =
    { Ctx: string
      Key: string
      /// The oldest write (by index) the answer may show: the newest acknowledged, or read, when
      /// the read was asked.
      Lower: uint64
      mutable Index: uint64 option }

/// The key-value state machine: key -> (value, index of the write).
type private Kv = Map<string, int * uint64>

let private encodeKv (kv: Kv) =
    let sb = StringBuilder()
    for KeyValue(k, (v, i)) in kv do
        sb.Append(k).Append('=').Append(v).Append('@').Append(i).Append(';') |> ignore
    Encoding.UTF8.GetBytes(sb.ToString())

let private decodeKv (data: byte[]) : Kv =
    Encoding.UTF8.GetString(data).Split(';', StringSplitOptions.RemoveEmptyEntries)
    |> Array.map (fun p ->
        let eq = p.IndexOf '='
        let at = p.IndexOf '@'
        p.Substring(0, eq), (int (p.Substring(eq + 1, at - eq - 1)), uint64 (p.Substring(at + 1))))
    |> Map.ofArray

/// A client's write: key, unique value, the member and incarnation that proposed it.
type private Write = { Key: string; Value: int; Proposer: uint64; Incarnation: int }

let private parseWrite (e: Entry) =
    if e.Type <> EntryNormal || e.Data.Length = 0 then
        None
    else
        match Encoding.UTF8.GetString(e.Data).Split('|') with
        | [| k; v; p; inc |] -> Some { Key = k; Value = int v; Proposer = uint64 p; Incarnation = int inc }
        | _ -> None

[<AllowNullLiteral>]
type private Node(id: uint64, incarnation: int, rn: RawNode, disk: Disk, snapshot: Snapshot) =
    member val Id = id
    member val Incarnation = incarnation
    member val Rn = rn with get, set
    member val Planner = Planner.initial with get, set
    member val Pending: Effect list = [] with get, set
    member val Ready: Ready option = None with get, set
    member val Notify = Notify() with get, set
    member val Disk = disk with get, set
    member val Queue = Queue<ApplyItem>()
    member val Item: ApplyItem option = None with get, set
    member val Steps: ApplyStep list = [] with get, set
    member val Progress = ApplyPlanner.start snapshot with get, set
    member val Applied = snapshot.Metadata.Index with get, set
    member val Kv: Kv = (if Pb.isEmptySnap snapshot then Map.empty else decodeKv snapshot.Data) with get, set
    member val Redirected = ResizeArray<Message>()
    member val Reports = ResizeArray<RawNode -> RawNode>()
    member val Reads = ResizeArray<PendingRead>()
    /// The raft loop has no plan in progress.
    member n.Idle = n.Pending.IsEmpty

/// The simulation's configuration of member `id`.
let private config (seed: uint64) (id: uint64) =
    { Config.defaults id with
        ElectionTick = 5
        PreVote = (seed / 2UL) % 2UL = 0UL
        CheckQuorum = (seed / 4UL) % 2UL = 0UL
        MaxSizePerMsg = (if (seed / 8UL) % 4UL = 0UL then 0UL else 256UL)
        MaxInflightMsgs = 8
        Seed = Some(seed * 1000UL + id) }

let private snapshotSettings: SnapshotSettings = { SnapshotCount = 4UL; CatchUpEntries = 2UL; PauseFactor = 0 }

let private heartbeatInterval = TimeSpan.FromMilliseconds 100.

let private sameEntry (a: Entry) (b: Entry) =
    a.Term = b.Term && a.Index = b.Index && a.Type = b.Type && a.Data.AsSpan().SequenceEqual(b.Data)

/// How a run is driven besides its events.
type RunOptions =
    { Variant: PlannerVariant
      Members: int
      Seed: uint64
      /// Power loss (keeping no unsynced record) right after the raft loops' nth effect (from 1),
    /// once the member's apply loop has gone as far as it can.
      CrashAt: int option }

/// Runs the events, then heals the network and lets the cluster settle; returns what the run
/// exercised, or the first violation.
let run (options: RunOptions) (events: Event[]) : Result<Stats, Violation> =
    let n = options.Members
    let ids = [ 1UL .. uint64 n ]
    let cfg = config options.Seed
    let confState = { Pb.emptyConfState with Voters = ids }
    let bootSnap = { Data = [||]; Metadata = { ConfState = confState; Index = 1UL; Term = 1UL } }
    let bootDisk = { Durable = [ SnapshotRecord(1UL, 1UL) ]; Unsynced = []; SnapFiles = [ bootSnap ] }

    let mutable found: (string * string) option = None
    let violated property detail = if found.IsNone then found <- Some(property, detail)

    // The checker's memory.
    let truth = Dictionary<uint64, Entry>()
    let leaderOfTerm = Dictionary<uint64, uint64>()
    let acked = ResizeArray<struct (uint64 * uint64 * string)>() // index, term, key
    let ackedOps = HashSet<int>()
    let ackedMax = Dictionary<string, uint64>()
    let readMax = Dictionary<string, uint64>()
    let sentTerm = Dictionary<uint64, uint64>()
    let votes = Dictionary<struct (uint64 * uint64), uint64>() // (voter, term) -> candidate
    let mutable readsChecked = 0
    let mutable crashes = 0
    let mutable snapshotsTaken = 0
    let mutable snapshotsRestored = 0
    let mutable overlaps = 0
    let mutable effectsRun = 0
    let mutable nextOp = 0
    let mutable nextRead = 0
    let mutable now = TimeSpan.Zero
    let mutable inFlight: Message list = []
    let mutable partition = 0

    let storageOf (img: NodeBootstrap.StorageImage) =
        let s =
            if Pb.isEmptySnap img.Snapshot then MemoryStorage.empty
            else
                match MemoryStorage.applySnapshot img.Snapshot MemoryStorage.empty with
                | Ok s -> s
                | Error e -> failwith (StorageError.message e)
        s |> MemoryStorage.setHardState img.HardState |> MemoryStorage.append img.Entries

    let start (id: uint64) (incarnation: int) (disk: Disk) (img: NodeBootstrap.StorageImage) =
        let rn = RawNode.create { cfg id with Applied = img.Snapshot.Metadata.Index } (storageOf img)
        Node(id, incarnation, Cluster.withoutLogs rn, disk, img.Snapshot)

    let nodes: Node[] =
        ids
        |> List.map (fun id ->
            match Disk.recover bootDisk.Durable bootDisk.SnapFiles with
            | Ok img -> start id 0 bootDisk img
            | Error e -> failwith e)
        |> Array.ofList
    let node (k: int) = nodes[((k - 1) % n + n) % n]
    let side (id: uint64) = (partition >>> int (id - 1UL)) &&& 1

    let setRn (m: Node) (rn: RawNode) = m.Rn <- Cluster.withoutLogs rn

    // --- the apply loop -------------------------------------------------------------------------

    let applyEntries (m: Node) (ents: Entry[]) =
        for e in ents do
            match truth.TryGetValue e.Index with
            | true, t when not (sameEntry t e) ->
                violated "committed entries never change" (sprintf "%d applied %s where %s was applied" m.Id (Describe.entry e) (Describe.entry t))
            | true, _ -> ()
            | false, _ -> truth[e.Index] <- e
            match parseWrite e with
            | Some w ->
                m.Kv <- Map.add w.Key (w.Value, e.Index) m.Kv
                // The proposing member answers its client when it applies the write.
                if w.Proposer = m.Id && w.Incarnation = m.Incarnation && ackedOps.Add w.Value then
                    acked.Add(struct (e.Index, e.Term, w.Key))
                    ackedMax[w.Key] <- max e.Index (match ackedMax.TryGetValue w.Key with | true, v -> v | _ -> 0UL)
            | None -> ()
            m.Applied <- e.Index

    let snapshotHandler (m: Node) (taken: Snapshot option ref) =
        { new ISnapshotHandler with
            member _.RecordSnapshot index =
                match RawNode.createSnapshot index (Some confState) (encodeKv m.Kv) m.Rn with
                | Ok(snap, rn) ->
                    setRn m rn
                    taken.Value <- Some snap
                    true
                | Error ErrSnapOutOfDate -> false
                | Error e -> failwith (StorageError.message e)
            member _.CompactLog index =
                match RawNode.compact index m.Rn with
                | Ok rn -> setRn m rn
                | Error ErrCompacted -> ()
                | Error e -> failwith (StorageError.message e)
            member _.SkipCompaction() = ()
            member _.SaveAndRelease() =
                match taken.Value with
                | Some snap -> m.Disk <- Disk.saveSnapshot snap m.Disk
                | None -> () }

    /// The MsgSnaps the raft loop redirected go out (the raft snapshot already holds the state
    /// machine's); the leader hears how they went when they arrive or are lost.
    let sendMerged (m: Node) =
        for msg in m.Redirected do
            inFlight <- inFlight @ [ msg ]
        m.Redirected.Clear()

    /// The transport tells the sender of a MsgSnap whether it arrived (etcd's ReportSnapshot),
    /// right away when its raft loop is between plans.
    let reportSnapshot (msg: Message) (arrived: bool) =
        if msg.Type = MsgSnap then
            let m = nodes[int msg.From - 1]
            let report = RawNode.reportSnapshot msg.To (if arrived then SnapshotFinish else SnapshotFailure)
            if m.Idle then setRn m (report m.Rn) else m.Reports.Add report

    let applyHandler (m: Node) (item: ApplyItem) =
        { new IApplyHandler with
            member _.WaitPersisted() =
                if item.Notify.Posted > item.Notify.Taken then
                    item.Notify.Taken <- item.Notify.Taken + 1
                    true
                else
                    false
            member _.RestoreSnapshot snap =
                m.Kv <- decodeKv snap.Data
                m.Applied <- snap.Metadata.Index
                snapshotsRestored <- snapshotsRestored + 1
            member _.ApplyEntries ents = applyEntries m ents
            member _.PublishApplied _ = ()
            member _.EndIfRemoved() = true
            member _.TriggerSnapshot() =
                match SnapshotPlanner.decide snapshotSettings m.Progress NoSnapshot 0 now with
                | Take order ->
                    let taken = ref None
                    SnapshotPlanner.run (snapshotHandler m taken) (SnapshotPlanner.plan order)
                    if taken.Value.IsSome then
                        snapshotsTaken <- snapshotsTaken + 1
                        m.Progress <- { m.Progress with SnapshotIndex = order.Index }
                | NotDue
                | HeldBack -> ()
            member _.SendMergedSnapshot() = sendMerged m }

    /// Runs the apply loop until it waits for a notify or has nothing to do; true if it did something.
    let runApply (m: Node) =
        let mutable progressed = false
        let mutable go = true
        while go && found.IsNone do
            match m.Item with
            | None ->
                if m.Queue.Count = 0 then
                    // Like etcd's apply loop, which hears of every Ready, an idle apply loop sends
                    // the MsgSnaps redirected to it (a Ready with nothing to apply may carry one).
                    if m.Redirected.Count > 0 then
                        sendMerged m
                        progressed <- true
                    go <- false
                else
                    let item = m.Queue.Dequeue()
                    match ApplyPlanner.plan m.Progress item.Entries item.Snapshot with
                    | Error e ->
                        violated "the apply loop's invariants" (sprintf "%d: %s" m.Id e)
                        go <- false
                    | Ok plan ->
                        m.Item <- Some item
                        m.Steps <- plan.Steps
                        m.Progress <- plan.Progress
                        progressed <- true
            | Some item ->
                match m.Steps with
                | [] -> m.Item <- None
                | s :: rest ->
                    if ApplyPlanner.run (applyHandler m item) { Steps = [ s ]; Progress = m.Progress } then
                        m.Steps <- rest
                        progressed <- true
                    else
                        go <- false
        progressed

    // --- the raft loop --------------------------------------------------------------------------

    let effectHandler (m: Node) =
        { new IEffectHandler with
            member _.Failpoint _ = ()
            member _.UpdateSoftState _ = ()
            member _.PublishReadState rs =
                let ctx = Encoding.UTF8.GetString rs.RequestCtx
                for r in m.Reads do
                    if r.Ctx = ctx then r.Index <- Some rs.Index
            member _.Apply(entries, snapshot, _) = m.Queue.Enqueue { Entries = entries; Snapshot = snapshot; Notify = m.Notify }
            member _.Save(hs, entries, mustSync) =
                let records =
                    [ if entries.Length > 0 then EntriesRecord entries
                      if not (Pb.isEmptyHardState hs) then HardStateRecord hs ]
                let d = Disk.append records m.Disk
                m.Disk <- if mustSync && options.Variant <> SaveWithoutFsync then Disk.sync d else d
            member _.ProposalsCommitted _ = ()
            member _.Send messages =
                for msg in messages do
                    // A pre-vote carries the term an election would have, which no one persists.
                    if msg.Type <> MsgPreVote && msg.Type <> MsgPreVoteResp then
                        sentTerm[m.Id] <- max msg.Term (match sentTerm.TryGetValue m.Id with | true, t -> t | _ -> 0UL)
                    if (msg.Type = MsgVoteResp) && not msg.Reject then votes[struct (m.Id, msg.Term)] <- msg.To
                inFlight <- inFlight @ List.ofArray messages
            member _.SaveSnapshot snapshot = m.Disk <- Disk.saveSnapshot snapshot m.Disk
            member _.Sync() = m.Disk <- Disk.sync m.Disk
            member _.NotifyPersisted() = m.Notify.Posted <- m.Notify.Posted + 1
            member _.ApplySnapshotToLog snapshot =
                match RawNode.applySnapshotToStorage snapshot m.Rn with
                | Ok rn -> setRn m rn
                | Error e -> failwith (StorageError.message e)
            member _.Release _ = ()
            member _.AppendToLog entries = setRn m (RawNode.appendToStorage entries m.Rn)
            member _.WaitApplied() = m.Notify.Posted <- m.Notify.Posted + 1
            member _.RedirectSnapshot message = m.Redirected.Add message
            member _.HeartbeatLate(_, _) = ()
            member _.Advance() =
                match m.Ready with
                | Some rd ->
                    setRn m (RawNode.advance rd m.Rn)
                    m.Ready <- None
                | None -> () }

    let restart (m: Node) (keep: int) =
        crashes <- crashes + 1
        let disk = Disk.powerLoss keep m.Disk
        match Disk.recoverWith (options.Variant = StaleWalReplay) disk.Durable disk.SnapFiles with
        | Error e ->
            violated "a member restarts from what its disk holds" (sprintf "%d: %s" m.Id e)
            m
        | Ok img ->
            let hs = img.HardState
            match sentTerm.TryGetValue m.Id with
            | true, t when t > hs.Term ->
                violated "a restarted member keeps its term" (sprintf "%d sent messages in term %d but restarted in term %d" m.Id t hs.Term)
            | _ -> ()
            match votes.TryGetValue(struct (m.Id, hs.Term)) with
            | true, c when hs.Vote <> c ->
                violated "a restarted member keeps its vote" (sprintf "%d voted for %d in term %d but restarted with vote %d" m.Id c hs.Term hs.Vote)
            | _ -> ()
            // What it holds committed is what was committed.
            for e in img.Entries do
                if e.Index <= hs.Commit then
                    match truth.TryGetValue e.Index with
                    | true, t when not (sameEntry t e) ->
                        violated "committed entries never change" (sprintf "%d restarted with %s committed where %s was applied" m.Id (Describe.entry e) (Describe.entry t))
                    | _ -> ()
            let fresh = start m.Id (m.Incarnation + 1) disk img
            nodes[int m.Id - 1] <- fresh
            fresh

    /// Every acknowledged write is held by a majority of the disks (what a restart would read).
    let checkAckedDurable (step: string) =
        let images = nodes |> Array.map (fun m -> Disk.recover m.Disk.Durable m.Disk.SnapFiles)
        for struct (index, term, key) in acked do
            if found.IsNone then
                let holders = images |> Array.filter (Disk.holds index term) |> Array.length
                if holders * 2 <= n then
                    violated
                        "acknowledged writes are durable"
                        (sprintf "%s: the write to %s acknowledged at %d/%d is held by %d of %d disks" step key term index holders n)

    let powerLoss (m: Node) (keep: int) =
        restart m keep |> ignore
        checkAckedDurable (sprintf "after %d lost power" m.Id)

    /// One effect of the member's plan, or its next Ready planned; false when it had nothing to do
    /// or waits for its apply loop.
    let raftStep (m: Node) =
        match m.Pending with
        | WaitApplied :: _ when m.Notify.Taken < m.Notify.Posted -> false
        | e :: rest ->
            m.Pending <- rest
            Interpreter.dispatch (effectHandler m) e
            effectsRun <- effectsRun + 1
            match options.CrashAt with
            | Some c when c = effectsRun ->
                // The apply loop runs beside the raft loop: power fails once it went as far as it could.
                runApply m |> ignore
                powerLoss m 0
            | _ -> ()
            true
        | [] ->
            for report in m.Reports do
                setRn m (report m.Rn)
            m.Reports.Clear()
            if RawNode.hasReady m.Rn then
                let struct (rd, rn) = RawNode.ready m.Rn
                setRn m rn
                if not (Pb.isEmptySnap rd.Snapshot) && Planner.shouldWaitWALSync rd then overlaps <- overlaps + 1
                let plan =
                    planWith
                        options.Variant
                        { Ready = rd; IsRemoved = (fun _ -> false); Now = now; HeartbeatInterval = heartbeatInterval }
                        m.Planner
                m.Planner <- plan.State
                m.Pending <- plan.Effects
                m.Ready <- Some rd
                m.Notify <- Notify()
                true
            else
                false

    /// The member's raft loop until it has nothing to do, its apply loop after each step.
    let drain (m: Node) =
        let mutable guard = 0
        let mutable go = true
        while go && found.IsNone && guard < 10_000 do
            guard <- guard + 1
            // A power loss replaces the member; the loop goes on with the restarted one.
            let m = nodes[int m.Id - 1]
            let stepped = raftStep m
            let m = nodes[int m.Id - 1]
            let applied = runApply m
            go <- stepped || applied

    let runAll () =
        for i in 0 .. n - 1 do
            drain nodes[i]

    let deliver (msg: Message) =
        if side msg.From = side msg.To then
            let m = nodes[int msg.To - 1]
            let struct (rn, _) = RawNode.step msg m.Rn
            setRn m rn
            reportSnapshot msg true
        else
            reportSnapshot msg false

    /// Members that are in the middle of a plan take messages after it (the message waits).
    let deliverable (msg: Message) = nodes[int msg.To - 1].Idle

    let takeAt (pick: int) =
        let ready = inFlight |> List.filter deliverable
        match ready with
        | [] -> None
        | _ ->
            let msg = ready[pick % ready.Length]
            let k = inFlight |> List.findIndex (fun x -> obj.ReferenceEquals(x, msg))
            inFlight <- List.removeAt k inFlight
            Some msg

    let flushInOrder () =
        let msgs, waiting = inFlight |> List.partition deliverable
        inFlight <- waiting
        for msg in msgs do
            deliver msg
        not msgs.IsEmpty

    let busy () =
        not inFlight.IsEmpty
        || nodes |> Array.exists (fun m -> not m.Idle || m.Item.IsSome || m.Queue.Count > 0 || RawNode.hasReady m.Rn)

    let settle () =
        let mutable rounds = 0
        while busy () && found.IsNone && rounds < 200 do
            rounds <- rounds + 1
            runAll ()
            flushInOrder () |> ignore

    let hasLeader () = nodes |> Array.exists (fun m -> (RawNode.raft m.Rn).State = StateLeader)

    let tickAll () =
        now <- now + heartbeatInterval
        for m in nodes do
            if m.Idle then setRn m (RawNode.tick m.Rn)

    let elect () =
        let mutable rounds = 0
        settle ()
        while not (hasLeader ()) && found.IsNone && rounds < 100 do
            rounds <- rounds + 1
            tickAll ()
            settle ()

    let check () =
        for m in nodes do
            let r = RawNode.raft m.Rn
            if r.State = StateLeader then
                match leaderOfTerm.TryGetValue r.Term with
                | true, other when other <> m.Id -> violated "one leader per term" (sprintf "%d and %d both led term %d" other m.Id r.Term)
                | true, _ -> ()
                | false, _ -> leaderOfTerm[r.Term] <- m.Id
            // Reads answer once the member applied up to their read index.
            let mutable i = 0
            while i < m.Reads.Count do
                let rd = m.Reads[i]
                match rd.Index with
                | Some ri when m.Applied >= ri ->
                    let w = match Map.tryFind rd.Key m.Kv with Some(_, wi) -> wi | None -> 0UL
                    if w < rd.Lower then
                        violated
                            "reads are linearizable"
                            (sprintf "%d read %s as written at %d (read index %d) after the write at %d was acknowledged or read" m.Id rd.Key w ri rd.Lower)
                    readMax[rd.Key] <- max w (match readMax.TryGetValue rd.Key with | true, v -> v | _ -> 0UL)
                    readsChecked <- readsChecked + 1
                    m.Reads.RemoveAt i
                | _ -> i <- i + 1

    let apply (ev: Event) =
        match ev with
        | TickAll -> tickAll ()
        | Tick k ->
            let m = node k
            if m.Idle then setRn m (RawNode.tick m.Rn)
        | RaftStep k ->
            raftStep (node k) |> ignore
        | ApplyStep k -> runApply (node k) |> ignore
        | RunAll -> runAll ()
        | Flush s ->
            let rng = Rng s
            let msgs, waiting = inFlight |> List.partition deliverable
            inFlight <- waiting
            for msg in msgs |> List.map (fun m -> rng.Next(), m) |> List.sortBy fst |> List.map snd do
                match rng.Below 20 with
                | 0 -> reportSnapshot msg false
                | 1 ->
                    deliver msg
                    deliver msg
                | _ -> deliver msg
        | Deliver p -> takeAt p |> Option.iter deliver
        | Drop p -> takeAt p |> Option.iter (fun msg -> reportSnapshot msg false)
        | Duplicate p ->
            match takeAt p with
            | Some msg ->
                deliver msg
                inFlight <- inFlight @ [ msg ]
            | None -> ()
        | Propose(k, key) ->
            let m = node k
            if m.Idle then
                nextOp <- nextOp + 1
                let data = Encoding.UTF8.GetBytes(sprintf "k%d|%d|%d|%d" (abs key % 3) nextOp m.Id m.Incarnation)
                let struct (rn, _) = RawNode.propose data m.Rn
                setRn m rn
        | Read(k, key) ->
            let m = node k
            if m.Idle then
                nextRead <- nextRead + 1
                let key = sprintf "k%d" (abs key % 3)
                let ctx = sprintf "r%d" nextRead
                let lower =
                    max (match ackedMax.TryGetValue key with | true, v -> v | _ -> 0UL) (match readMax.TryGetValue key with | true, v -> v | _ -> 0UL)
                if options.Variant = LocalReads then
                    m.Reads.Add { Ctx = ctx; Key = key; Lower = lower; Index = Some 0UL }
                else
                    m.Reads.Add { Ctx = ctx; Key = key; Lower = lower; Index = None }
                    setRn m (RawNode.readIndex (Encoding.UTF8.GetBytes ctx) m.Rn)
        | Partition mask -> partition <- mask
        | Heal -> partition <- 0
        | Crash(k, keep) -> powerLoss (node k) keep
        | Campaign k ->
            let m = node k
            if m.Idle then
                let struct (rn, _) = RawNode.campaign m.Rn
                setRn m rn
        | Settle -> settle ()
        | Elect -> elect ()
        | Drain k -> drain (node k)
        | DeliverTo k ->
            let m = node k
            if m.Idle then
                let mine, others = inFlight |> List.partition (fun msg -> msg.To = m.Id)
                inFlight <- others
                for msg in mine do
                    deliver msg
        | DeliverNewest k ->
            let m = node k
            if m.Idle then
                match inFlight |> List.tryFindIndexBack (fun msg -> msg.To = m.Id) with
                | Some i ->
                    let msg = inFlight[i]
                    inFlight <- List.removeAt i inFlight
                    deliver msg
                | None -> ()

    let mutable result = None
    let mutable step = 0
    let attempt (f: unit -> unit) =
        try
            f ()
            check ()
        with BrokenInvariant text ->
            violated "no broken invariant" text
    while result.IsNone && step < events.Length do
        attempt (fun () -> apply events[step])
        match found with
        | Some(p, d) -> result <- Some { Step = step; Property = p; Detail = d }
        | None -> ()
        step <- step + 1
    // The end: the network heals and the cluster settles; every acknowledged write must then be
    // on a majority of the disks and applied by every member.
    if result.IsNone then
        attempt (fun () ->
            partition <- 0
            elect ()
            let mutable rounds = 0
            let target () = if acked.Count = 0 then 0UL else acked |> Seq.map (fun (struct (i, _, _)) -> i) |> Seq.max
            while found.IsNone && rounds < 60 && (busy () || nodes |> Array.exists (fun m -> m.Applied < target ())) do
                rounds <- rounds + 1
                tickAll ()
                settle ()
            checkAckedDurable "at the end"
            for m in nodes do
                if m.Applied < target () then
                    violated "acknowledged writes reach every member" (sprintf "%d applied up to %d after the cluster settled, short of the write acknowledged at %d" m.Id m.Applied (target ())))
        match found with
        | Some(p, d) -> result <- Some { Step = events.Length; Property = p; Detail = d }
        | None -> ()
    match result with
    | Some v -> Error v
    | None ->
        Ok
            { Acknowledged = acked.Count
              ReadsChecked = readsChecked
              Crashes = crashes
              SnapshotsTaken = snapshotsTaken
              SnapshotsRestored = snapshotsRestored
              SnapshotOverlaps = overlaps
              Leaders = leaderOfTerm.Count
              Effects = effectsRun }

// ---------------------------------------------------------------------------------------------
// Random runs.

/// How often each kind of event happens, in relative weights.
type Profile =
    { Ticks: int
      RaftSteps: int
      ApplySteps: int
      RunAlls: int
      Deliveries: int
      Losses: int
      Proposals: int
      Reads: int
      Partitions: int
      Crashes: int }

module Profile =
    let standard =
        { Ticks = 10
          RaftSteps = 14
          ApplySteps = 6
          RunAlls = 16
          Deliveries = 24
          Losses = 3
          Proposals = 18
          Reads = 6
          Partitions = 3
          Crashes = 2 }

/// The events of a seed for `members` members.
let generateWith (p: Profile) (members: int) (steps: int) (seed: uint64) : Event[] =
    let rng = Rng seed
    let total =
        p.Ticks + p.RaftSteps + p.ApplySteps + p.RunAlls + p.Deliveries + p.Losses + p.Proposals + p.Reads + p.Partitions + p.Crashes
    Array.init steps (fun _ ->
        let take = WeightedDraw(rng, total).Take
        let node () = 1 + rng.Below members
        if take p.Ticks then (if rng.Below 4 = 0 then Tick(node ()) else TickAll)
        elif take p.RaftSteps then RaftStep(node ())
        elif take p.ApplySteps then ApplyStep(node ())
        elif take p.RunAlls then RunAll
        elif take p.Deliveries then (if rng.Below 3 = 0 then Flush(rng.Next()) else Deliver(rng.Below 1000))
        elif take p.Losses then (if rng.Below 2 = 0 then Drop(rng.Below 1000) else Duplicate(rng.Below 1000))
        elif take p.Proposals then Propose(node (), rng.Below 3)
        elif take p.Reads then Read(node (), rng.Below 3)
        elif take p.Partitions then
            (if members > 1 && rng.Below 2 = 0 then Partition(1 + rng.Below((1 <<< members) - 2)) else Heal)
        else Crash(node (), rng.Below 4))

/// Seeds run one member (a third of them) or three.
let membersOf (seed: uint64) = if seed % 3UL = 0UL then 1 else 3

let generate (steps: int) (seed: uint64) = generateWith Profile.standard (membersOf seed) steps seed

let optionsOf (variant: PlannerVariant) (seed: uint64) =
    { Variant = variant; Members = membersOf seed; Seed = seed; CrashAt = None }

/// The shortest sub-list of `events` found that still violates the same property.
let shrink (options: RunOptions) (events: Event[]) (property: string) : Event[] * Violation =
    let fails (evs: Event[]) =
        match run options evs with
        | Error v when v.Property = property -> Some v
        | _ -> None
    let cut (evs: Event[]) (v: Violation) = if v.Step < evs.Length then evs[.. v.Step] else evs
    let mutable current =
        match fails events with
        | Some v -> cut events v
        | None -> events
    let mutable chunk = max 1 (current.Length / 2)
    while chunk >= 1 do
        let mutable i = 0
        while i < current.Length do
            let candidate = Array.append current[.. i - 1] current[i + chunk ..]
            match fails candidate with
            | Some v -> current <- cut candidate v
            | None -> i <- i + chunk
        chunk <- chunk / 2
    match fails current with
    | Some v -> current, v
    | None -> failwith "shrinking lost the failure"

/// A failure report: the seed, the violation and the shrunk trace that reproduces it.
let report (options: RunOptions) (events: Event[]) (v: Violation) =
    let trace, sv = shrink options events v.Property
    let sb = StringBuilder()
    sb.AppendFormat(
        "seed {0} ({1} members, {2}{3}): {4} at step {5}: {6}\n",
        options.Seed,
        options.Members,
        options.Variant,
        (match options.CrashAt with Some c -> sprintf ", power loss after effect %d" c | None -> ""),
        v.Property,
        v.Step,
        v.Detail
    )
    |> ignore
    sb.AppendFormat("shortest trace found, {0} of {1} events (then heal and settle; fails with: {2}):\n", trace.Length, events.Length, sv.Detail)
    |> ignore
    trace |> Array.iteri (fun i e -> sb.AppendFormat("  {0,4}: {1}\n", i, sprintf "%A" e) |> ignore)
    sb.ToString()

// ---------------------------------------------------------------------------------------------
// Exhaustive crash points.

/// A small scenario: a leader is elected, then `proposals` writes through the members in turn,
/// each settled (no ticks) before the next, with an election whenever no member leads.
let scenario (members: int) (proposals: int) : Event[] =
    [| Campaign 1
       Elect
       for p in 0 .. proposals - 1 do
           Propose(p % members + 1, p % 3)
           Settle
           Elect |]

/// A follower cut off while the others write and compact catches up through a snapshot, and the
/// entries after the snapshot reach it before its next Ready: that Ready has a snapshot and
/// committed entries that overlap its unstable ones (where Core saves the snapshot first).
let snapshotCatchUpScenario: Event[] =
    [| Campaign 1
       Elect
       Partition 4
       for p in 0 .. 11 do
           Propose(1, p % 3)
           Settle
       Heal
       // A heartbeat's answer makes the leader probe member 3's log, which is behind the leader's
       // compaction: member 3 rejects, and the leader redirects a snapshot to its apply loop,
       // which sends it.
       TickAll
       Drain 1
       DeliverTo 3
       Drain 3
       DeliverTo 1
       Drain 1
       DeliverTo 3
       Drain 3
       DeliverTo 1
       Drain 1
       // A heartbeat reaches member 3 ahead of the snapshot, and its answer goes back.
       TickAll
       Drain 1
       DeliverNewest 3
       Drain 3
       // The snapshot arrives (the leader hears it did), then the heartbeat's answer makes the
       // leader send the entries after the snapshot, which arrive before member 3's next Ready.
       DeliverTo 3
       DeliverTo 1
       Drain 1
       DeliverTo 3
       Drain 3
       Settle
       for p in 0 .. 3 do
           Propose(1, p % 3)
           Settle |]

/// Runs the scenario with power loss after each effect in turn (one per run, the member keeping
/// only its durable records); returns the number of crash points and the first failure.
let enumerateCrashPointsOf (variant: PlannerVariant) (members: int) (events: Event[]) : int * (int * Violation) option =
    let baseOptions = { Variant = variant; Members = members; Seed = 1UL; CrashAt = None }
    match run baseOptions events with
    | Error v -> 0, Some(0, v)
    | Ok stats ->
        let points = stats.Effects
        let failure =
            seq { 1 .. points }
            |> Seq.tryPick (fun c ->
                match run { baseOptions with CrashAt = Some c } events with
                | Error v -> Some(c, v)
                | Ok _ -> None)
        points, failure

/// enumerateCrashPointsOf for `scenario members proposals`.
let enumerateCrashPoints (variant: PlannerVariant) (members: int) (proposals: int) =
    enumerateCrashPointsOf variant members (scenario members proposals)
