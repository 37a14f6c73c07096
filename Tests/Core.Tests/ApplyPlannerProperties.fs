/// The apply side's decisions (Core/ApplyPlan.fs) as Hedgehog properties. Each property is also
/// run against a named broken variant, a realistic mistake, and must catch it.
module Raft.Core.Tests.ApplyPlannerProperties

open System
open Expecto
open Hedgehog
open Hedgehog.FSharp
open Raft.Core
open Raft.Core.Tests.PropertyCheck

// ---- generated cases ---------------------------------------------------------------------------

/// One Ready's work for the apply loop, and where the loop stands.
type ApplyCase =
    { Progress: ApplyProgress
      Entries: Entry[]
      Snapshot: Snapshot }

let private confState = { Pb.emptyConfState with Voters = [ 1UL; 2UL; 3UL ] }

let private genApplyCase: Gen<ApplyCase> =
    gen {
        let! applied = Gen.uint64 (Range.constant 0UL 30UL)
        let! snapi = Gen.uint64 (Range.constant 0UL applied)
        let! term = Gen.uint64 (Range.constant 1UL 3UL)
        let! withSnapshot = Gen.frequency [ 3, Gen.constant false; 1, Gen.constant true ]
        let! snapAhead = Gen.uint64 (Range.constant 1UL 10UL)
        let snapshot =
            if withSnapshot then { Data = [||]; Metadata = { ConfState = confState; Index = applied + snapAhead; Term = term } }
            else Pb.emptySnapshot
        let base' = if withSnapshot then snapshot.Metadata.Index else applied
        // Committed entries start at or before the next index to apply (never after: the planner
        // hands the loop contiguous work), possibly overlapping what is applied.
        let! back = Gen.uint64 (Range.constant 0UL (min base' 5UL))
        let! count = Gen.int32 (Range.constant 0 6)
        let! confChangeAt = Gen.int32 (Range.constant -1 5)
        let first = base' + 1UL - back
        let entries =
            Array.init count (fun i ->
                let t = if i = confChangeAt then EntryConfChange else EntryNormal
                { Term = term; Index = first + uint64 i; Type = t; Data = [| byte i |] })
        return
            { Progress = { AppliedIndex = applied; AppliedTerm = term; SnapshotIndex = snapi }
              Entries = (if count = 0 then [||] else entries)
              Snapshot = snapshot }
    }

type ApplyPlanner = ApplyProgress -> Entry[] -> Snapshot -> Result<ApplyPlan, string>

let private positions pred (steps: ApplyStep list) =
    steps |> List.indexed |> List.filter (snd >> pred) |> List.map fst

let private require cond why = if cond then None else Some why

let private all (checks: (unit -> string option) list) = checks |> List.tryPick (fun c -> c ())

let private planOf (planner: ApplyPlanner) (c: ApplyCase) =
    match planner c.Progress c.Entries c.Snapshot with
    | Ok p -> p
    | Error e -> failwithf "the apply planner refused valid work: %s" e

/// A check of one case; None when it holds.
type ApplyCheck = ApplyCase -> ApplyPlan -> string option

let private applyProperty (planner: ApplyPlanner) (check: ApplyCheck) =
    property {
        let! c = genApplyCase
        let plan = planOf planner c
        match check c plan with
        | Some why -> failwithf "%s\ncase: %A\nsteps: %A" why c plan.Steps
        | None -> ()
    }

// ---- apply-plan properties ---------------------------------------------------------------------

/// The loop waits for the raft loop before restoring a snapshot (it must be on disk first) and,
/// once more, after applying and before it considers a snapshot (the raft log must hold what was
/// applied). That is as many waits as the planner gives notifies: two with a snapshot, else one.
let waitsWhereTheRaftLoopMustBeAhead: ApplyCheck =
    fun c plan ->
        let steps = plan.Steps
        let waits = positions ((=) WaitPersisted) steps
        let restore = positions (function RestoreSnapshot _ -> true | _ -> false) steps
        let trigger = positions ((=) TriggerSnapshot) steps
        let applyAt = positions (function ApplyEntries _ | PublishApplied _ -> true | _ -> false) steps
        let hasSnapshot = not (Pb.isEmptySnap c.Snapshot)
        all
            [ fun () -> require (waits.Length = (if hasSnapshot then 2 else 1)) (sprintf "%d waits for the raft loop" waits.Length)
              fun () -> require (trigger.Length = 1) "the snapshot trigger is not considered exactly once"
              fun () ->
                  if hasSnapshot then
                      require (restore.Length = 1 && waits.Head < restore.Head) "a snapshot restored before the raft loop persisted it"
                  else require restore.IsEmpty "a snapshot restored that the work does not hold"
              fun () ->
                  let last = List.last waits
                  require
                      (applyAt |> List.forall (fun a -> a < last) && trigger |> List.forall (fun t -> last < t))
                      "the snapshot is considered before the raft loop's disk writes are done" ]

/// Every committed entry past the applied index (or past the snapshot) is applied once, in order;
/// none applied before is applied again; the progress ends at the last.
let appliesEachEntryOnce: ApplyCheck =
    fun c plan ->
        let from = if Pb.isEmptySnap c.Snapshot then c.Progress.AppliedIndex else c.Snapshot.Metadata.Index
        let expected = c.Entries |> Array.filter (fun e -> e.Index > from) |> List.ofArray
        let applied = plan.Steps |> List.collect (function ApplyEntries es -> List.ofArray es | _ -> [])
        let lastIndex = expected |> List.tryLast |> Option.map (fun e -> e.Index) |> Option.defaultValue from
        all
            [ fun () -> require (applied = expected) "the entries applied are not those past the applied index, in order"
              fun () -> require (plan.Progress.AppliedIndex = lastIndex) "the progress does not end at the last applied entry"
              fun () -> require (List.contains (PublishApplied lastIndex) plan.Steps) "the applied index published is not the last applied" ]

/// The broken variants of the apply planner.
let private rewriteSteps (f: ApplyStep list -> ApplyStep list) : ApplyPlanner =
    fun progress entries snapshot -> ApplyPlanner.plan progress entries snapshot |> Result.map (fun p -> { p with Steps = f p.Steps })

/// Restores the snapshot as soon as it arrives, before the raft loop has it on disk.
let restoresBeforeWaiting: ApplyPlanner =
    rewriteSteps (function
        | WaitPersisted :: (RestoreSnapshot _ as r) :: rest -> r :: WaitPersisted :: rest
        | steps -> steps)

/// Applies every committed entry it is handed, including those already applied.
let reappliesEverything: ApplyPlanner =
    fun progress entries snapshot ->
        ApplyPlanner.plan progress entries snapshot
        |> Result.map (fun p ->
            let steps =
                p.Steps
                |> List.filter (function ApplyEntries _ -> false | _ -> true)
                |> List.collect (function
                    | PublishApplied _ as s when entries.Length > 0 -> [ ApplyEntries entries; s ]
                    | s -> [ s ])
            { p with Steps = steps })

// ---- snapshot decisions ------------------------------------------------------------------------

type DecisionCase =
    { Settings: SnapshotSettings
      Progress: ApplyProgress
      Last: LastSnapshot
      Sending: int
      Now: TimeSpan }

let private ms (n: int) = TimeSpan.FromMilliseconds(float n)

let private genDecisionCase: Gen<DecisionCase> =
    gen {
        let! count = Gen.uint64 (Range.constant 1UL 20UL)
        let! catchUp = Gen.uint64 (Range.constant 0UL 40UL)
        let! snapi = Gen.uint64 (Range.constant 0UL 50UL)
        let! extra = Gen.uint64 (Range.constant 0UL 40UL)
        let! started = Gen.int32 (Range.constant 0 1000)
        let! took = Gen.int32 (Range.constant 0 200)
        let! after = Gen.int32 (Range.constant 0 2500)
        let! last = Gen.item [ NoSnapshot; InFlight; Saved(ms started, ms (started + took)) ]
        let! sending = Gen.frequency [ 3, Gen.constant 0; 1, Gen.int32 (Range.constant 1 3) ]
        return
            { Settings = { SnapshotCount = count; CatchUpEntries = catchUp; PauseFactor = 9 }
              Progress = { AppliedIndex = snapi + extra; AppliedTerm = 1UL; SnapshotIndex = snapi }
              Last = last
              Sending = sending
              Now = ms (started + took + after) }
    }

type Decide = SnapshotSettings -> ApplyProgress -> LastSnapshot -> int -> TimeSpan -> SnapshotDecision

type DecisionCheck = DecisionCase -> SnapshotDecision -> string option

let private decisionProperty (decide: Decide) (check: DecisionCheck) =
    property {
        let! c = genDecisionCase
        let d = decide c.Settings c.Progress c.Last c.Sending c.Now
        match check c d with
        | Some why -> failwithf "%s\ncase: %A\ndecision: %s" why c (ApplyPlanText.decision d)
        | None -> ()
    }

let private isTake = function Take _ -> true | _ -> false

/// A snapshot is due once more than snapshot-count entries were applied since the last one.
let dueAfterSnapshotCount: DecisionCheck =
    fun c d ->
        let due = c.Progress.AppliedIndex - c.Progress.SnapshotIndex > c.Settings.SnapshotCount
        if due then require (d <> NotDue) "due, but decided not due"
        else require (d = NotDue) "taken or held back before snapshot-count entries were applied"

/// One at a time, and after one that took T, the next not before 9T after it was saved.
let pacedByTheLastOne: DecisionCheck =
    fun c d ->
        let due = c.Progress.AppliedIndex - c.Progress.SnapshotIndex > c.Settings.SnapshotCount
        if not due then None
        else
            match c.Last with
            | InFlight -> require (d = HeldBack) "a second snapshot while one is in flight"
            | NoSnapshot -> require (isTake d) "due and nothing to pace by, but not taken"
            | Saved(started, saved) ->
                let resume = saved + TimeSpan.FromTicks((saved - started).Ticks * 9L)
                if c.Now < resume then require (d = HeldBack) "taken before the pause after the last one passed"
                else require (isTake d) "held back after the pause passed"

/// The raft log keeps catch-up entries (and index 1 at least) after a snapshot, and is not
/// compacted at all while a snapshot is being sent to a follower.
let compactionKeepsWhatFollowersNeed: DecisionCheck =
    fun c d ->
        match d with
        | Take order ->
            all
                [ fun () -> require (order.Index = c.Progress.AppliedIndex) "the snapshot is not of the applied index"
                  fun () ->
                      match order.CompactIndex with
                      | None -> require (c.Sending > 0) "compaction skipped with no snapshot being sent"
                      | Some ci ->
                          all
                              [ fun () -> require (c.Sending = 0) "compacted while a snapshot is being sent"
                                fun () -> require (ci >= 1UL && ci <= order.Index) "compaction index outside the log"
                                fun () ->
                                    require
                                        (order.Index - ci = min c.Settings.CatchUpEntries (order.Index - 1UL))
                                        "compaction does not keep the catch-up entries" ] ]
        | _ -> None

/// The decision with snapshot-count counted inclusively.
let triggersAtCount: Decide =
    fun s p last sending now ->
        SnapshotPlanner.decide { s with SnapshotCount = s.SnapshotCount - 1UL } p last sending now

/// Paces from the start of the last snapshot instead of from when it was saved.
let pacesFromTheStart: Decide =
    fun s p last sending now ->
        let last =
            match last with
            | Saved(started, saved) -> Saved(started - (saved - started), started)
            | l -> l
        SnapshotPlanner.decide s p last sending now

/// Compacts whatever is being sent.
let compactsWhileSending: Decide = fun s p last _ now -> SnapshotPlanner.decide s p last 0 now

// ---- persistent state machines -----------------------------------------------------------------

type Capture = StateMachineKind -> CaptureStep list

/// A persistent machine's store is made durable on the apply loop before the snapshot is handed
/// to the raft loop (which then compacts and releases WAL segments); its snapshot carries the
/// membership only. An in-memory machine's state is captured before it is handed on.
let persistsBeforeTheRaftLoopReleases (capture: Capture) =
    property {
        let! kind = Gen.item [ InMemory; Persistent ]
        let steps = capture kind
        let at s = List.tryFindIndex ((=) s) steps
        let fail why = failwithf "%s\nkind: %A\nsteps: %A" why kind steps
        match at PostToRaftLoop with
        | None -> fail "the snapshot is never handed to the raft loop"
        | Some post ->
            if List.last steps <> PostToRaftLoop then fail "a step runs after the raft loop has the snapshot"
            match kind with
            | Persistent ->
                match at PersistState, at CaptureState with
                | Some p, None when p < post -> ()
                | _ -> fail "the store is not made durable before the raft loop has the snapshot, or its whole state is serialized"
            | InMemory ->
                match at CaptureState, at PersistState with
                | Some c, None when c < post -> ()
                | _ -> fail "the in-memory state is not captured before the raft loop has the snapshot"
    }

/// Hands the snapshot to the raft loop first and makes the store durable after (a background commit).
let postsBeforePersisting: Capture =
    fun kind ->
        match SnapshotPlanner.capture kind with
        | PersistState :: rest -> (rest |> List.filter ((<>) PostToRaftLoop)) @ [ PostToRaftLoop; PersistState ]
        | steps -> steps

/// A persistent machine's snapshots are not paced by the last one's time (only the small raft
/// snapshot is written): due and none in flight means taken. An in-memory machine keeps the pause.
let persistentIsNotPaced (settingsFor: StateMachineKind -> SnapshotSettings -> SnapshotSettings) =
    property {
        let! c = genDecisionCase
        let! kind = Gen.item [ InMemory; Persistent ]
        let d = SnapshotPlanner.decide (settingsFor kind c.Settings) c.Progress c.Last c.Sending c.Now
        let check = if kind = Persistent then (fun c d ->
                        let due = c.Progress.AppliedIndex - c.Progress.SnapshotIndex > c.Settings.SnapshotCount
                        match c.Last with
                        | Saved _ when due -> require (isTake d) "a persistent machine's snapshot held back by the pause"
                        | _ -> None)
                    else pacedByTheLastOne
        match check c d with
        | Some why -> failwithf "%s\nkind: %A\ncase: %A\ndecision: %s" why kind c (ApplyPlanText.decision d)
        | None -> ()
    }

/// Paces every kind of state machine.
let pacesEveryKind: StateMachineKind -> SnapshotSettings -> SnapshotSettings = fun _ s -> s

// ---- restarts ----------------------------------------------------------------------------------

type ForceRestart = HardState -> Entry[] -> uint64 -> Result<NodeBootstrap.ForcedRestart, string>

/// A WAL whose last commit-only hard state may be lost, and a state machine that applied up to
/// some index at or past the surviving commit index (never past the last entry).
let private genForcedCase =
    gen {
        let! last = Gen.uint64 (Range.constant 1UL 30UL)
        let! commit = Gen.uint64 (Range.constant 0UL last)
        let! applied = Gen.uint64 (Range.constant 0UL last)
        let entries = Array.init (int last) (fun i -> { Term = 1UL; Index = uint64 (i + 1); Type = EntryNormal; Data = [| byte i |] })
        return { Term = 1UL; Vote = 1UL; Commit = commit }, entries, applied
    }

/// --force-new-cluster keeps every entry the WAL holds, in order (the commit index on disk may lag
/// behind what the member applied, and an in-memory state machine keeps no applied index), and
/// commits them with the forced conf changes after the last one.
let forcedRestartKeepsEveryWalEntry (force: ForceRestart) =
    property {
        let! hs, entries, applied = genForcedCase
        match force hs entries applied with
        | Error e -> failwithf "refused: %s" e
        | Ok r ->
            let why = sprintf "(commit %d, applied %d, last %d)" hs.Commit applied entries.Length
            let stored = r.Storage.Entries
            if stored.Length < entries.Length || stored[.. entries.Length - 1] <> entries then
                failwithf "kept %s, not every WAL entry %s" (Describe.entries stored) why
            let forced = stored[entries.Length ..]
            if forced <> r.WalEntries then failwithf "the WAL gets %s, the storage %s %s" (Describe.entries r.WalEntries) (Describe.entries forced) why
            if forced |> Array.mapi (fun i e -> e.Index <> uint64 (entries.Length + 1 + i)) |> Array.exists id then
                failwithf "the forced conf changes %s do not follow the last entry %s" (Describe.entries forced) why
            if r.Storage.HardState.Commit <> stored[stored.Length - 1].Index then
                failwithf "commit index %d, not the last entry %d %s" r.Storage.HardState.Commit stored[stored.Length - 1].Index why
    }

/// etcd's rule: discards the entries past the durable commit index (the larger of the WAL's and
/// the state machine's), as this repository did before.
let discardsPastTheDurableCommit: ForceRestart =
    fun hs entries applied ->
        let keep = max hs.Commit applied
        NodeBootstrap.restartAsStandaloneNode 1UL [||] None hs (entries |> Array.filter (fun e -> e.Index <= keep)) applied

/// Core's forced restart, as a ForceRestart.
let private forceCore: ForceRestart =
    fun hs entries applied -> NodeBootstrap.restartAsStandaloneNode 1UL [||] None hs entries applied

/// Trusts the WAL's commit index alone (what the seed does).
let ignoresTheAppliedIndex: ForceRestart =
    fun hs entries _ -> NodeBootstrap.restartAsStandaloneNode 1UL [||] None hs (entries |> Array.filter (fun e -> e.Index <= hs.Commit)) 0UL

// ---- purge -------------------------------------------------------------------------------------

type PurgeCase =
    { MaxWals: int
      MaxSnaps: int
      Wal: string list
      Snap: string list }

let private genPurgeCase: Gen<PurgeCase> =
    gen {
        let! walCount = Gen.int32 (Range.constant 0 8)
        let! snapCount = Gen.int32 (Range.constant 0 8)
        let! maxWals = Gen.int32 (Range.constant 0 6)
        let! maxSnaps = Gen.int32 (Range.constant 0 6)
        let! walOrder = Gen.shuffle [ 0 .. walCount - 1 ]
        let! snapOrder = Gen.shuffle [ 0 .. snapCount - 1 ]
        let wal = walOrder |> List.map (fun i -> sprintf "%016x-%016x.wal" i (i * 10))
        let snap = snapOrder |> List.map (fun i -> sprintf "%016x-%016x.snap" 1 (i * 10))
        // Files that are neither: a temporary segment and state-machine snapshots.
        return { MaxWals = maxWals; MaxSnaps = maxSnaps; Wal = wal @ [ "0.tmp" ]; Snap = snap @ [ "0000000000000010.snap.db" ] }
    }

type PurgeFn = int -> int -> string list -> string list -> PurgePlan

/// Exactly the oldest files beyond the number to keep go (0 keeps all), oldest first; nothing else.
let purgesOnlyTheOldest (purge: PurgeFn) =
    property {
        let! c = genPurgeCase
        let p = purge c.MaxWals c.MaxSnaps c.Wal c.Snap
        let expect max (suffix: string) names =
            let sorted = names |> List.filter (fun (n: string) -> n.EndsWith suffix) |> List.sort
            if max = 0 then [] else List.truncate (Operators.max 0 (sorted.Length - max)) sorted
        let check what actual expected =
            if actual <> expected then failwithf "%s: removes %A, expected %A\ncase: %A" what actual expected c
        check "wal" p.Wal (expect c.MaxWals ".wal" c.Wal)
        check "snap" p.Snap (expect c.MaxSnaps ".snap" c.Snap)
    }

/// Keeps the oldest files and removes the newest.
let purgesTheNewest: PurgeFn =
    fun maxWals maxSnaps wal snap ->
        let p = Purge.plan maxWals maxSnaps wal snap
        let newest keep (suffix: string) names (picked: string list) =
            names |> List.filter (fun (n: string) -> n.EndsWith suffix) |> List.sortDescending |> List.truncate picked.Length |> List.sort
        { Wal = newest maxWals ".wal" wal p.Wal; Snap = newest maxSnaps ".snap" snap p.Snap }

// ---- the tests ---------------------------------------------------------------------------------

/// A property checked against Core, and the broken variant it must catch.
let private pair name (holds: Property<unit>) brokenName (broken: Property<unit>) =
    [ testCase (sprintf "Core keeps: %s" name) <| fun () -> Hog.holds holds
      testCase (sprintf "%s is caught by: %s" brokenName name) <| fun () ->
          Expect.isTrue (Hog.caught broken) (sprintf "the property did not catch %s" brokenName) ]

[<Tests>]
let tests =
    testList "ApplyPlanner" (
        List.concat
            [ pair "the apply loop waits before restoring a snapshot and before triggering one"
                  (applyProperty ApplyPlanner.plan waitsWhereTheRaftLoopMustBeAhead)
                  "restoresBeforeWaiting" (applyProperty restoresBeforeWaiting waitsWhereTheRaftLoopMustBeAhead)
              pair "each committed entry past the applied index is applied once"
                  (applyProperty ApplyPlanner.plan appliesEachEntryOnce)
                  "reappliesEverything" (applyProperty reappliesEverything appliesEachEntryOnce)
              pair "a snapshot is due after more than snapshot-count entries"
                  (decisionProperty SnapshotPlanner.decide dueAfterSnapshotCount)
                  "triggersAtCount" (decisionProperty triggersAtCount dueAfterSnapshotCount)
              pair "snapshots are paced by the last one's time"
                  (decisionProperty SnapshotPlanner.decide pacedByTheLastOne)
                  "pacesFromTheStart" (decisionProperty pacesFromTheStart pacedByTheLastOne)
              pair "compaction keeps catch-up entries and waits for snapshots being sent"
                  (decisionProperty SnapshotPlanner.decide compactionKeepsWhatFollowersNeed)
                  "compactsWhileSending" (decisionProperty compactsWhileSending compactionKeepsWhatFollowersNeed)
              pair "a persistent store is made durable before the raft loop takes its snapshot"
                  (persistsBeforeTheRaftLoopReleases SnapshotPlanner.capture)
                  "postsBeforePersisting" (persistsBeforeTheRaftLoopReleases postsBeforePersisting)
              pair "a persistent state machine's snapshots are not paced; an in-memory one's are"
                  (persistentIsNotPaced SnapshotPlanner.settingsFor)
                  "pacesEveryKind" (persistentIsNotPaced pacesEveryKind)
              pair "--force-new-cluster keeps every WAL entry"
                  (forcedRestartKeepsEveryWalEntry forceCore)
                  "discardsPastTheDurableCommit" (forcedRestartKeepsEveryWalEntry discardsPastTheDurableCommit)
              pair "--force-new-cluster keeps every WAL entry (the seed's rule)"
                  (forcedRestartKeepsEveryWalEntry forceCore)
                  "ignoresTheAppliedIndex" (forcedRestartKeepsEveryWalEntry ignoresTheAppliedIndex)
              pair "purge removes only the oldest files beyond the numbers to keep"
                  (purgesOnlyTheOldest Purge.plan)
                  "purgesTheNewest" (purgesOnlyTheOldest purgesTheNewest) ]
    )
