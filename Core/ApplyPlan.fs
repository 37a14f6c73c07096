/// The apply side as pure functions (etcd 3.5.5 server/etcdserver/server.go: applyAll,
/// applySnapshot, applyEntries, triggerSnapshot, snapshot, and the file purge): what the apply loop
/// does with one Ready's work and when it waits for the raft loop, when it takes a snapshot and how
/// far the raft log is compacted after it, and which old files go. The shell runs the steps.
namespace Raft.Core

open System

/// etcd's etcdProgress, without the ConfState (which the apply loop learns from raft as it applies
/// conf changes).
type ApplyProgress =
    { AppliedIndex: uint64
      AppliedTerm: uint64
      /// The index of the last snapshot taken or restored.
      SnapshotIndex: uint64 }

/// One step of the apply loop for one Ready's work (etcd's applyAll).
type ApplyStep =
    /// Take the Ready's notify: the raft loop has done the disk work the next steps rely on.
    | WaitPersisted
    /// Restore the state machine and membership from the snapshot; the applied and snapshot
    /// indexes become its index.
    | RestoreSnapshot of Snapshot
    /// Apply these committed entries in order (those applied before are already left out).
    | ApplyEntries of Entry[]
    /// Tell the applied-index waiters and the metrics.
    | PublishApplied of uint64
    /// End the loop if one of the entries removed this member (it stops; etcd's shouldStop).
    | EndIfRemoved
    /// Decide on a snapshot of the applied state (SnapshotPlanner.decide) and take it if due.
    | TriggerSnapshot
    /// Send one waiting MsgSnap, merged with a snapshot of the state machine.
    | SendMergedSnapshot

/// The steps for one Ready's work, in order, and the progress once they have run.
type ApplyPlan = { Steps: ApplyStep list; Progress: ApplyProgress }

/// An apply loop: one member per step. Members that return false end the loop.
type IApplyHandler =
    /// Waits for the notify; false when the loop is stopping and none came.
    abstract WaitPersisted: unit -> bool
    abstract RestoreSnapshot: snapshot: Snapshot -> unit
    abstract ApplyEntries: entries: Entry[] -> unit
    abstract PublishApplied: index: uint64 -> unit
    /// False when an applied conf change removed this member.
    abstract EndIfRemoved: unit -> bool
    abstract TriggerSnapshot: unit -> unit
    abstract SendMergedSnapshot: unit -> unit

/// What the apply loop knows of its last snapshot when it considers the next.
type LastSnapshot =
    /// None since the start, or the last one failed: nothing to pace by.
    | NoSnapshot
    /// One is being captured or saved.
    | InFlight
    /// The last one took from `started` (triggered) to `saved` (on disk, WAL released); monotonic
    /// clock readings.
    | Saved of started: TimeSpan * saved: TimeSpan

/// The numbers that govern snapshots.
type SnapshotSettings =
    { /// etcd's --snapshot-count: applied entries between snapshots.
      SnapshotCount: uint64
      /// Entries kept in the raft log after a snapshot for slow followers (--experimental-snapshot-catchup-entries).
      CatchUpEntries: uint64
      /// After a snapshot that took T, the next waits until PauseFactor × T has passed after it.
      PauseFactor: int }

/// What to take: a snapshot of the applied state at Index, and how far to compact the raft log
/// after it (None: not at all, while a snapshot is being sent to a follower).
type SnapshotOrder = { Index: uint64; CompactIndex: uint64 option }

/// Whether the apply loop takes a snapshot now.
type SnapshotDecision =
    /// No more than snapshot-count entries applied since the last snapshot.
    | NotDue
    /// Due, but the previous snapshot is still in flight or its pause has not passed: look again later.
    | HeldBack
    | Take of SnapshotOrder

/// One step of recording a snapshot on the raft loop (etcd's EtcdServer.snapshot).
type SnapshotStep =
    /// Record the snapshot in the raft log's storage; a newer one already there ends the plan.
    | RecordSnapshot of index: uint64
    /// Compact the raft log up to the index.
    | CompactLog of index: uint64
    /// Leave the raft log whole: a snapshot is being sent to a follower.
    | SkipCompaction
    /// In the background: the snap file and WAL record, then release the WAL, then purge old files.
    | SaveAndRelease

/// What kind of state machine the node runs: one whose state lives in memory (serialized whole
/// into each raft snapshot) or one that persists itself with its applied index (etcd's backend).
type StateMachineKind =
    | InMemory
    | Persistent

/// One step of taking a snapshot on the apply loop, before the raft loop records it.
type CaptureStep =
    /// Make the persistent state machine's store durable up to the applied index (etcd forces a
    /// backend commit): the raft loop compacts the log and releases WAL segments after the
    /// snapshot, so nothing they held may be missing from the store.
    | PersistState
    /// Serialize (or capture, to serialize later) the in-memory state into the snapshot's data.
    | CaptureState
    /// Put only the membership in the snapshot's data (the state is in the store).
    | MembershipOnly
    /// Hand the snapshot to the raft loop (SnapshotPlanner.plan's steps run there).
    | PostToRaftLoop

/// The apply loop's side of a snapshot: one member per step.
type ICaptureHandler =
    abstract PersistState: unit -> unit
    abstract CaptureState: unit -> unit
    abstract MembershipOnly: unit -> unit
    abstract PostToRaftLoop: unit -> unit

/// The raft loop's side of a snapshot: one member per step.
type ISnapshotHandler =
    /// Records the snapshot; false when the raft log already holds a newer one.
    abstract RecordSnapshot: index: uint64 -> bool
    abstract CompactLog: index: uint64 -> unit
    abstract SkipCompaction: unit -> unit
    abstract SaveAndRelease: unit -> unit

/// Old files to remove after a snapshot.
type PurgePlan =
    { /// WAL segments, oldest first; the shell stops at the first one the WAL still holds locked.
      Wal: string list
      /// Snap files, oldest first.
      Snap: string list }

module ApplyPlanner =

    /// The progress of a node that starts from `snapshot` (Pb.emptySnapshot when none).
    let start (snapshot: Snapshot) : ApplyProgress =
        { AppliedIndex = snapshot.Metadata.Index
          AppliedTerm = snapshot.Metadata.Term
          SnapshotIndex = snapshot.Metadata.Index }

    /// etcd's applyAll for one Ready's work. A snapshot is restored only once the raft loop has
    /// persisted it (the first notify); entries already applied are skipped; the loop waits for the
    /// raft loop's disk writes (the second notify) before a snapshot, or the applied index could
    /// run ahead of the raft log's last index. Errors are broken invariants.
    let plan (progress: ApplyProgress) (entries: Entry[]) (snapshot: Snapshot) : Result<ApplyPlan, string> =
        let hasSnapshot = not (Pb.isEmptySnap snapshot)
        if hasSnapshot && snapshot.Metadata.Index <= progress.AppliedIndex then
            Error(
                sprintf
                    "unexpected leader snapshot from outdated index %d (applied %d)"
                    snapshot.Metadata.Index
                    progress.AppliedIndex
            )
        else
            let afterSnapshot =
                if hasSnapshot then
                    { AppliedIndex = snapshot.Metadata.Index
                      AppliedTerm = snapshot.Metadata.Term
                      SnapshotIndex = snapshot.Metadata.Index }
                else
                    progress
            let toApply =
                if entries.Length = 0 then Ok [||]
                else
                    let first = entries[0].Index
                    if first > afterSnapshot.AppliedIndex + 1UL then
                        Error(sprintf "unexpected committed entry index %d (applied %d)" first afterSnapshot.AppliedIndex)
                    else
                        let skip = afterSnapshot.AppliedIndex + 1UL - first
                        Ok(if skip >= uint64 entries.Length then [||] else entries[int skip ..])
            toApply
            |> Result.map (fun ents ->
                let final =
                    if ents.Length = 0 then afterSnapshot
                    else
                        let last = ents[ents.Length - 1]
                        { afterSnapshot with AppliedIndex = last.Index; AppliedTerm = last.Term }
                { Steps =
                    [ if hasSnapshot then
                          WaitPersisted
                          RestoreSnapshot snapshot
                      if ents.Length > 0 then ApplyEntries ents
                      PublishApplied final.AppliedIndex
                      // Only a conf change removes a member.
                      if ents |> Array.exists (fun e -> e.Type = EntryConfChange) then EndIfRemoved
                      WaitPersisted
                      TriggerSnapshot
                      SendMergedSnapshot ]
                  Progress = final })

    /// Runs the steps in order until one ends the loop; false when one did.
    let run (h: IApplyHandler) (plan: ApplyPlan) =
        let step s =
            match s with
            | WaitPersisted -> h.WaitPersisted()
            | RestoreSnapshot snap ->
                h.RestoreSnapshot snap
                true
            | ApplyEntries ents ->
                h.ApplyEntries ents
                true
            | PublishApplied index ->
                h.PublishApplied index
                true
            | EndIfRemoved -> h.EndIfRemoved()
            | TriggerSnapshot ->
                h.TriggerSnapshot()
                true
            | SendMergedSnapshot ->
                h.SendMergedSnapshot()
                true
        List.forall step plan.Steps

module SnapshotPlanner =

    /// Whether more than snapshot-count entries were applied since the last snapshot.
    let isDue (settings: SnapshotSettings) (progress: ApplyProgress) =
        progress.AppliedIndex > progress.SnapshotIndex + settings.SnapshotCount

    /// Where the raft log is compacted after a snapshot at `index`: catch-up entries are kept for
    /// slow followers, and index 1 is the least (etcd's compacti).
    let compactIndex (catchUpEntries: uint64) (index: uint64) =
        if index > catchUpEntries then index - catchUpEntries else 1UL

    /// etcd's triggerSnapshot, paced: every snapshot-count applied entries, one at a time, and after
    /// one that took T from trigger to saved, not before PauseFactor × T has passed after it (the
    /// whole state is written each time; for a large state a fixed count would spend most of the
    /// machine rewriting it). `sendingSnapshots` is how many snapshots are being sent to followers:
    /// compaction waits for them (etcd: "skip compaction since there is an inflight snapshot").
    let decide (settings: SnapshotSettings) (progress: ApplyProgress) (last: LastSnapshot) (sendingSnapshots: int) (now: TimeSpan) =
        if not (isDue settings progress) then
            NotDue
        else
            let paused =
                match last with
                | NoSnapshot -> false
                | InFlight -> true
                | Saved(started, saved) ->
                    now < saved + TimeSpan.FromTicks((saved - started).Ticks * int64 settings.PauseFactor)
            if paused then
                HeldBack
            else
                Take
                    { Index = progress.AppliedIndex
                      CompactIndex =
                        if sendingSnapshots = 0 then Some(compactIndex settings.CatchUpEntries progress.AppliedIndex)
                        else None }

    /// The settings for a kind of state machine: a persistent one writes only the small raft
    /// snapshot each time, so the pause after a slow snapshot (which exists because the whole
    /// state is rewritten) does not apply to it.
    let settingsFor (kind: StateMachineKind) (settings: SnapshotSettings) =
        match kind with
        | InMemory -> settings
        | Persistent -> { settings with PauseFactor = 0 }

    /// The apply loop's steps to take a snapshot of a kind of state machine (etcd's snapshot():
    /// the backend commit runs on the apply loop, before anything is handed on).
    let capture (kind: StateMachineKind) : CaptureStep list =
        match kind with
        | InMemory -> [ CaptureState; PostToRaftLoop ]
        | Persistent -> [ PersistState; MembershipOnly; PostToRaftLoop ]

    /// Runs the capture steps in order.
    let runCapture (h: ICaptureHandler) (steps: CaptureStep list) =
        for s in steps do
            match s with
            | PersistState -> h.PersistState()
            | CaptureState -> h.CaptureState()
            | MembershipOnly -> h.MembershipOnly()
            | PostToRaftLoop -> h.PostToRaftLoop()

    /// The raft loop's steps for an order (etcd's EtcdServer.snapshot).
    let plan (order: SnapshotOrder) : SnapshotStep list =
        [ RecordSnapshot order.Index
          match order.CompactIndex with
          | Some i -> CompactLog i
          | None -> SkipCompaction
          SaveAndRelease ]

    /// Runs the steps in order; stops when the snapshot was not recorded.
    let run (h: ISnapshotHandler) (steps: SnapshotStep list) =
        let step s =
            match s with
            | RecordSnapshot index -> h.RecordSnapshot index
            | CompactLog index ->
                h.CompactLog index
                true
            | SkipCompaction ->
                h.SkipCompaction()
                true
            | SaveAndRelease ->
                h.SaveAndRelease()
                true
        List.forall step steps |> ignore

module Purge =

    let private isHex (s: string) =
        s.Length > 0 && s |> Seq.forall Uri.IsHexDigit

    /// etcd's WAL segment name: `%016x-%016x.wal` (sequence, first index).
    let isWalName (name: string) =
        name.Length = 16 + 1 + 16 + 4
        && name.EndsWith(".wal", StringComparison.Ordinal)
        && name[16] = '-'
        && isHex (name.Substring(0, 16))
        && isHex (name.Substring(17, 16))

    /// A snap file: etcd's purge goes by the suffix alone.
    let isSnapName (name: string) = name.EndsWith(".snap", StringComparison.Ordinal)

    /// The oldest names beyond the newest `keep` (etcd's purgeFile: names sort by age), oldest first.
    let private beyond (keep: int) (names: string list) =
        let sorted = names |> List.sortWith (fun a b -> String.CompareOrdinal(a, b))
        List.truncate (max 0 (sorted.Length - keep)) sorted

    /// What to remove from the WAL and snap directories, given their file names, to keep at most
    /// `maxWals` WAL segments and `maxSnaps` snap files (0: keep all). Other files are left alone.
    let plan (maxWals: int) (maxSnaps: int) (walNames: string list) (snapNames: string list) : PurgePlan =
        let pick max isName names =
            if max <= 0 then [] else names |> List.filter isName |> beyond max
        { Wal = pick maxWals isWalName walNames
          Snap = pick maxSnaps isSnapName snapNames }

    /// State-machine snapshot files (`%016x.snap.db`) older than a snapshot at `index` (etcd's
    /// ReleaseSnapDBs); names that do not parse are left alone.
    let snapDbsOlderThan (index: uint64) (names: string list) =
        names
        |> List.filter (fun n ->
            n.EndsWith(".snap.db", StringComparison.Ordinal)
            && (let hex = n.Substring(0, n.Length - ".snap.db".Length)
                isHex hex
                && hex.Length <= 16
                && Convert.ToUInt64(hex, 16) < index))

/// Apply plans, snapshot decisions and purges as text, for tests and reviewers.
module ApplyPlanText =

    let private snapshotShort (s: Snapshot) = sprintf "Index:%d Term:%d" s.Metadata.Index s.Metadata.Term

    let step (s: ApplyStep) =
        match s with
        | WaitPersisted -> "wait-persisted"
        | RestoreSnapshot snap -> sprintf "restore-snapshot(%s)" (snapshotShort snap)
        | ApplyEntries ents -> sprintf "apply-entries(%s)" (PlanText.entryRange ents)
        | PublishApplied i -> sprintf "publish-applied(%d)" i
        | EndIfRemoved -> "end-if-removed"
        | TriggerSnapshot -> "trigger-snapshot"
        | SendMergedSnapshot -> "send-merged-snapshot"

    let progress (p: ApplyProgress) =
        sprintf "progress(applied=%d/%d, snapshot=%d)" p.AppliedTerm p.AppliedIndex p.SnapshotIndex

    let describe (plan: ApplyPlan) =
        let sb = Text.StringBuilder()
        for s in plan.Steps do
            sb.Append(step s).Append('\n') |> ignore
        sb.Append(progress plan.Progress).Append('\n').ToString()

    let decision (d: SnapshotDecision) =
        match d with
        | NotDue -> "not-due"
        | HeldBack -> "held-back"
        | Take o ->
            match o.CompactIndex with
            | Some c -> sprintf "take(index=%d, compact-index=%d)" o.Index c
            | None -> sprintf "take(index=%d, skip compaction since there is an inflight snapshot)" o.Index

    let captureStep (s: CaptureStep) =
        match s with
        | PersistState -> "persist-state"
        | CaptureState -> "capture-state"
        | MembershipOnly -> "membership-only"
        | PostToRaftLoop -> "post-to-raft-loop"

    let snapshotStep (s: SnapshotStep) =
        match s with
        | RecordSnapshot i -> sprintf "record-snapshot(%d)" i
        | CompactLog i -> sprintf "compact-log(%d)" i
        | SkipCompaction -> "skip-compaction"
        | SaveAndRelease -> "save-and-release"

    let purge (p: PurgePlan) =
        let sb = Text.StringBuilder()
        for n in p.Wal do
            sb.Append("remove-wal(").Append(n).Append(")\n") |> ignore
        for n in p.Snap do
            sb.Append("remove-snap(").Append(n).Append(")\n") |> ignore
        if sb.Length = 0 then "nothing\n" else sb.ToString()
