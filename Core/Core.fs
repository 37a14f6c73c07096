/// The planner: the body of the seed's Ready loop (etcd 3.5.5 server/etcdserver/raft.go,
/// raftNode.start) as a pure function. A Ready and a few facts go in; the effects the shell must run,
/// in order, come out with the planner's next state. The shell decides nothing about order.
namespace Raft.Core

open System

/// The seed's reaction to a changed soft state: rh.updateLead, rh.updateLeadership and the metrics
/// has_leader (Lead <> 0), is_leader and leader_changes (+1 when NewLeader).
type LeaderUpdate =
    { Lead: uint64
      IsLeader: bool
      /// A leader is known and it is not the one tracked so far.
      NewLeader: bool }

/// What the apply loop receives for one Ready (the seed's `apply`), plus the committed index the
/// server advances to (updateCommittedIndex; None when it stays).
type ApplyWork =
    { Entries: Entry[]
      /// Pb.emptySnapshot when there is none.
      Snapshot: Snapshot
      CommittedIndex: uint64 option }

/// The seed's gofail sites in its Ready loop, where crash tests stop or slow the node. The planner
/// names them on the effects they guard (see Guard), so the shell fires what it is told.
type GofailSite =
    /// Before the save that precedes apply when committed entries overlap unstable ones.
    | RaftBeforeSaveWaitWalSync
    /// Before a leader sends its messages (ahead of its own disk writes).
    | RaftBeforeLeaderSend
    /// Before the snapshot file and WAL snapshot record are written.
    | RaftBeforeSaveSnap
    /// After the snapshot file and WAL snapshot record are written.
    | RaftAfterSaveSnap
    /// Before the hard state and entries are appended to the WAL, after apply was handed out.
    | RaftBeforeSave
    /// After the hard state and entries are appended to the WAL.
    | RaftAfterSave
    /// Before an incoming snapshot is applied to the in-memory log.
    | RaftBeforeApplySnap
    /// After an incoming snapshot is applied to the in-memory log.
    | RaftAfterApplySnap
    /// After WAL segments older than a snapshot are released.
    | RaftAfterWALRelease
    /// Before a follower or candidate sends its messages (after its disk writes).
    | RaftBeforeFollowerSend

/// The failpoints around one effect: Before fires just before the shell runs it, After just after.
type Guard =
    { Before: GofailSite option
      After: GofailSite option }

/// One thing the shell does. The comments say what the seed does for each.
type Effect =
    /// Track the leader, tell the server whether it leads, set the leader metrics.
    | UpdateSoftState of LeaderUpdate
    /// Hand the newest ReadState to the linearizable-read loop.
    | PublishReadState of ReadState
    /// Hand committed entries and snapshot to the apply loop; returns at once.
    | Apply of ApplyWork
    /// Append the hard state and entries to the WAL; fsync when mustSync (the one place that
    /// decides: the WAL does not recompute it).
    | Save of hardState: HardState * entries: Entry[] * mustSync: bool * guard: Guard
    /// Set the proposals_committed metric to the hard state's commit index.
    | ProposalsCommitted of uint64
    /// Give messages to the transport (never blocks; may drop).
    | Send of messages: Message list * guard: Guard
    /// Write the snapshot file, then the WAL snapshot record, both fsynced.
    | SaveSnapshot of snapshot: Snapshot * guard: Guard
    /// fsync the WAL.
    | Sync
    /// Signal the apply loop (the seed's notifyc) that this Ready's disk work it waits for is done.
    | NotifyPersisted
    /// MemoryStorage.ApplySnapshot.
    | ApplySnapshotToLog of snapshot: Snapshot * guard: Guard
    /// Release WAL segments and snapshot files older than the snapshot.
    | Release of snapshot: Snapshot * guard: Guard
    /// MemoryStorage.Append.
    | AppendToLog of Entry[]
    /// Block until the apply loop has applied this Ready's committed entries (the seed's blocking
    /// send on notifyc, whose capacity is one).
    | WaitApplied
    /// Pass a MsgSnap to the apply side, which merges in the state machine's snapshot and sends it.
    | RedirectSnapshot of Message
    /// A heartbeat to `To` left later than twice the heartbeat interval: warn and count
    /// heartbeat_send_failures.
    | HeartbeatLate of To: uint64 * Exceeded: TimeSpan
    /// RawNode.Advance.
    | Advance

/// The failpoints the planner puts around its effects.
module Guards =
    let none: Guard = { Before = None; After = None }
    let before (site: GofailSite) : Guard = { Before = Some site; After = None }
    let after (site: GofailSite) : Guard = { Before = None; After = Some site }
    let save (before: GofailSite) : Guard = { Before = Some before; After = Some RaftAfterSave }
    let saveSnapshot: Guard = { Before = Some RaftBeforeSaveSnap; After = Some RaftAfterSaveSnap }
    let applySnapshotToLog: Guard = { Before = Some RaftBeforeApplySnap; After = Some RaftAfterApplySnap }

/// What the planner remembers between Readys.
type PlannerState =
    { /// The leader the server tracks (rh.getLead()).
      Lead: uint64
      /// Whether this node leads (the seed's `islead`): taken from each Ready's soft state, and
      /// unchanged by a Ready without one.
      IsLeader: bool
      /// The contention detector: when the last heartbeat to each peer left.
      LastHeartbeat: Map<uint64, TimeSpan> }

/// The facts the seed consults besides the Ready.
type PlanInput =
    { Ready: Ready
      /// The seed's isIDRemoved.
      IsRemoved: uint64 -> bool
      /// A monotonic clock reading; only differences matter.
      Now: TimeSpan
      HeartbeatInterval: TimeSpan }

/// The effects for one Ready, in order, and the state for the next.
type Plan = { Effects: Effect list; State: PlannerState }

/// The messages of a Ready after the seed's processMessages.
type ProcessedMessages =
    { /// What goes to the transport, in the Ready's order.
      ToSend: Message list
      /// RedirectSnapshot and HeartbeatLate, in the order the seed meets them (last message first).
      Effects: Effect list
      LastHeartbeat: Map<uint64, TimeSpan> }

module Planner =

    /// Nothing tracked yet: no leader, no heartbeat seen.
    let initial: PlannerState = { Lead = 0UL; IsLeader = false; LastHeartbeat = Map.empty }

    /// The seed's shouldWaitWALSync. A one-member cluster gets the same entries as unstable and as
    /// committed; the apply loop answers clients as soon as it applies, so such entries must be on
    /// disk first or a crash loses acknowledged writes (etcd issue 14370). Index and term only grow,
    /// so comparing the last committed entry with the first unstable one finds any overlap.
    let shouldWaitWALSync (rd: Ready) =
        if rd.CommittedEntries.Length = 0 || rd.Entries.Length = 0 then
            false
        else
            let lastCommitted = rd.CommittedEntries[rd.CommittedEntries.Length - 1]
            let firstUnstable = rd.Entries[0]
            lastCommitted.Term > firstUnstable.Term
            || (lastCommitted.Term = firstUnstable.Term && lastCommitted.Index >= firstUnstable.Index)

    /// The seed's updateCommittedIndex: the larger of the last committed entry's index and the
    /// snapshot's index; zero means there is nothing to report.
    let committedIndex (rd: Ready) =
        let fromEntries =
            if rd.CommittedEntries.Length = 0 then 0UL
            else rd.CommittedEntries[rd.CommittedEntries.Length - 1].Index
        match max fromEntries rd.Snapshot.Metadata.Index with
        | 0UL -> None
        | ci -> Some ci

    /// The seed's TimeoutDetector.Observe: a heartbeat is late when more than `maxDuration` passed
    /// since the previous one to the same peer; returns the excess, if late, and the new records.
    let observeHeartbeat (maxDuration: TimeSpan) (now: TimeSpan) (peer: uint64) (records: Map<uint64, TimeSpan>) =
        let late =
            match Map.tryFind peer records with
            | Some previous ->
                let exceed = now - previous - maxDuration
                if exceed > TimeSpan.Zero then Some exceed else None
            | None -> None
        late, Map.add peer now records

    /// The seed's processMessages. Walking from the last message: a message to a removed member is
    /// dropped; only the last MsgAppResp is kept (a later one supersedes the earlier ones); every
    /// MsgSnap goes to the apply side, which must merge in the state machine's snapshot; every
    /// heartbeat is timed (leaders are expected to send one within two heartbeat intervals).
    /// The seed only zeroes a removed member's To, so it still redirects such a MsgSnap and times
    /// such a heartbeat under id 0; dropping the message outright spares a merged snapshot for nobody.
    let processMessages (input: PlanInput) (records: Map<uint64, TimeSpan>) : ProcessedMessages =
        let ms = input.Ready.Messages
        let lastAppResp = Array.FindLastIndex(ms, fun m -> m.Type = MsgAppResp)
        let maxDuration = input.HeartbeatInterval + input.HeartbeatInterval
        let mutable toSend = []
        let mutable effects = []
        let mutable records = records
        for i in ms.Length - 1 .. -1 .. 0 do
            let m = ms[i]
            if input.IsRemoved m.To then ()
            elif m.Type = MsgAppResp && i <> lastAppResp then ()
            elif m.Type = MsgSnap then effects <- RedirectSnapshot m :: effects
            else
                if m.Type = MsgHeartbeat then
                    let late, next = observeHeartbeat maxDuration input.Now m.To records
                    records <- next
                    late |> Option.iter (fun exceed -> effects <- HeartbeatLate(m.To, exceed) :: effects)
                toSend <- m :: toSend
        { ToSend = toSend; Effects = List.rev effects; LastHeartbeat = records }

    /// A follower that commits a conf change waits for the apply loop before sending, or it might
    /// count votes from removed members, or campaign alone before the change is applied. The seed
    /// checks v1 conf changes only (etcd proposes no others); the same reason holds for v2.
    let private commitsConfChange (rd: Ready) =
        rd.CommittedEntries |> Array.exists (fun e -> e.Type <> EntryNormal)

    /// The plan for one Ready (the seed's loop body). Order:
    /// soft state; read state; [overlap: save snapshot, save]; apply; leader: send; save snapshot;
    /// save; [snapshot: sync, notify, apply snapshot to log, release]; append to log; follower:
    /// process messages, notify, wait applied, send; leader: notify; advance. Apply and the
    /// notifies appear only when the Ready has something to apply.
    let plan (input: PlanInput) (state: PlannerState) : Plan =
        let rd = input.Ready
        let effects = ResizeArray<Effect>(16)

        // Soft state: leader tracking, and a fresh contention detector on every change.
        let state =
            match rd.SoftState with
            | None -> state
            | Some ss ->
                let isLeader = ss.RaftState = StateLeader
                let newLeader = ss.Lead <> 0UL && state.Lead <> ss.Lead
                effects.Add(UpdateSoftState { Lead = ss.Lead; IsLeader = isLeader; NewLeader = newLeader })
                { Lead = ss.Lead; IsLeader = isLeader; LastHeartbeat = Map.empty }

        // Only the newest ReadState matters to the read loop.
        if not rd.ReadStates.IsEmpty then effects.Add(PublishReadState(List.last rd.ReadStates))

        let hasSnapshot = not (Pb.isEmptySnap rd.Snapshot)
        let hasSave = rd.Entries.Length > 0 || not (Pb.isEmptyHardState rd.HardState)
        let saveSnapshot () =
            if hasSnapshot then effects.Add(SaveSnapshot(rd.Snapshot, Guards.saveSnapshot))
        // The seed's gofail sites tell the two places of the save apart.
        let save (before: GofailSite) =
            if hasSave then effects.Add(Save(rd.HardState, rd.Entries, rd.MustSync, Guards.save before))

        // Entries the apply loop would apply before they are on disk: save them first. A snapshot in
        // the same Ready goes first of all, so that no entry reaches the WAL ahead of the snapshot it
        // follows (etcd issue 10219); the seed saved it after the entries.
        let waitWALSync = shouldWaitWALSync rd
        if waitWALSync then
            saveSnapshot ()
            save RaftBeforeSaveWaitWalSync

        // The apply loop gets only Readys with something to apply, and waits for the notify of
        // those only: a Ready without committed entries or snapshot yields neither.
        let committed = committedIndex rd
        let toApply = rd.CommittedEntries.Length > 0 || hasSnapshot || committed.IsSome
        if toApply then
            effects.Add(Apply { Entries = rd.CommittedEntries; Snapshot = rd.Snapshot; CommittedIndex = committed })
        let notify () = if toApply then effects.Add NotifyPersisted

        let sendProcessed (processed: ProcessedMessages) =
            effects.AddRange processed.Effects
            if not processed.ToSend.IsEmpty then
                let site = if state.IsLeader then RaftBeforeLeaderSend else RaftBeforeFollowerSend
                effects.Add(Send(processed.ToSend, Guards.before site))

        // A leader writes to its disk in parallel with its followers (raft thesis 10.2.1).
        let state =
            if state.IsLeader then
                let processed = processMessages input state.LastHeartbeat
                sendProcessed processed
                { state with LastHeartbeat = processed.LastHeartbeat }
            else
                state

        // The snapshot file and WAL record come before any other entry or hard state, so that
        // recovery after a snapshot restore is possible.
        if not waitWALSync then
            saveSnapshot ()
            save RaftBeforeSave
        if not (Pb.isEmptyHardState rd.HardState) then effects.Add(ProposalsCommitted rd.HardState.Commit)

        if hasSnapshot then
            // The hard state must be on disk before Release drops the WAL data it would need
            // (etcd issue 10219); the apply loop may then take the snapshot.
            effects.Add Sync
            effects.Add NotifyPersisted
            effects.Add(ApplySnapshotToLog(rd.Snapshot, Guards.applySnapshotToLog))
            effects.Add(Release(rd.Snapshot, Guards.after RaftAfterWALRelease))

        if rd.Entries.Length > 0 then effects.Add(AppendToLog rd.Entries)

        let state =
            if state.IsLeader then
                // The leader already processed its messages (and any MsgSnap) above.
                notify ()
                state
            else
                // Messages are processed before the notify, which lets the apply loop (waiting on the
                // disk writes) trigger snapshots and pick up redirected MsgSnaps.
                let processed = processMessages input state.LastHeartbeat
                notify ()
                if commitsConfChange rd then effects.Add WaitApplied
                sendProcessed processed
                { state with LastHeartbeat = processed.LastHeartbeat }

        effects.Add Advance
        { Effects = List.ofSeq effects; State = state }

/// Proposals while no leader is known: etcd's raft node takes none then (its propc is nil without a
/// leader), so the server's proposals wait in the runner until one is known.
module ProposalGate =

    /// Whether a proposal arriving while `lead` is the known leader goes to raft now; otherwise it
    /// is held.
    let admit (lead: uint64) = lead <> 0UL

    /// Whether the `held` proposals go to raft now, all of them, in the order they arrived.
    let release (lead: uint64) (held: int) = held > 0 && lead <> 0UL

/// The quorum checks of etcd's membership administration (RaftCluster.IsReadyToAddVotingMember,
/// IsReadyToRemoveVotingMember, IsReadyToPromoteMember and EtcdServer.mayRemoveMember), by the
/// majority rule raft itself decides with (MajorityConfig.voteResultBy).
module ReconfigQuorum =

    /// Whether the voters for which `up` holds are a majority of `voters`. No voters make no
    /// majority here (etcd's arithmetic asks for one of none), unlike raft's empty config.
    let isMajority (voters: uint64 list) (up: uint64 -> bool) =
        not voters.IsEmpty
        && MajorityConfig.voteResultBy (fun id -> ValueSome(up id)) (MajorityConfig.ofSeq voters) = VoteWon

    /// A voting member may join when a majority of the cluster it makes is started; a one-member
    /// cluster may always take a second.
    let readyToAdd (voters: uint64 list) (started: uint64 -> bool) (newMember: uint64) =
        match voters with
        | [ only ] when started only -> true
        | _ -> isMajority (newMember :: voters) (fun id -> id <> newMember && started id)

    /// A voting member may leave when a majority of the remaining voters is started.
    let readyToRemove (voters: uint64 list) (started: uint64 -> bool) (leaving: uint64) =
        isMajority (voters |> List.filter ((<>) leaving)) started

    /// A learner may be promoted when a majority of the voters it joins, counting it, is started.
    let readyToPromote (voters: uint64 list) (started: uint64 -> bool) (learner: uint64) =
        isMajority (learner :: (voters |> List.filter ((<>) learner))) (fun id -> id = learner || started id)

    /// etcd's mayRemoveMember for an active member: the active voters left after the removal must
    /// still be a majority of the voters left.
    let mayRemoveActive (voters: uint64 list) (active: uint64 -> bool) (leaving: uint64) =
        isMajority (voters |> List.filter ((<>) leaving)) active

/// The seed's spelling of the gofail sites.
module Gofail =
    /// Every site, in the order the seed's loop can reach them.
    let all: GofailSite list =
        [ RaftBeforeSaveWaitWalSync; RaftBeforeLeaderSend; RaftBeforeSaveSnap; RaftAfterSaveSnap; RaftBeforeSave
          RaftAfterSave; RaftBeforeApplySnap; RaftAfterApplySnap; RaftAfterWALRelease; RaftBeforeFollowerSend ]

    /// The name gofail knows the site by (`raftBeforeSave`).
    let name (site: GofailSite) =
        match site with
        | RaftBeforeSaveWaitWalSync -> "raftBeforeSaveWaitWalSync"
        | RaftBeforeLeaderSend -> "raftBeforeLeaderSend"
        | RaftBeforeSaveSnap -> "raftBeforeSaveSnap"
        | RaftAfterSaveSnap -> "raftAfterSaveSnap"
        | RaftBeforeSave -> "raftBeforeSave"
        | RaftAfterSave -> "raftAfterSave"
        | RaftBeforeApplySnap -> "raftBeforeApplySnap"
        | RaftAfterApplySnap -> "raftAfterApplySnap"
        | RaftAfterWALRelease -> "raftAfterWALRelease"
        | RaftBeforeFollowerSend -> "raftBeforeFollowerSend"

/// An interpreter of plans: one member per effect (and one for the failpoints the effects name),
/// in shapes a C# class implements directly. Adding an effect adds a member here and a case to
/// Interpreter.dispatch's complete match, so no interpreter compiles until it handles it.
type IEffectHandler =
    /// Fire the failpoint armed at `site`, if any.
    abstract Failpoint: site: GofailSite -> unit
    /// See Effect.UpdateSoftState.
    abstract UpdateSoftState: update: LeaderUpdate -> unit
    /// See Effect.PublishReadState.
    abstract PublishReadState: readState: ReadState -> unit
    /// Committed entries and snapshot (Pb.emptySnapshot when none) for the apply loop, and the
    /// committed index to advance to (null when it stays).
    abstract Apply: entries: Entry[] * snapshot: Snapshot * committedIndex: Nullable<uint64> -> unit
    /// See Effect.Save; fsync exactly when mustSync says so.
    abstract Save: hardState: HardState * entries: Entry[] * mustSync: bool -> unit
    /// See Effect.ProposalsCommitted.
    abstract ProposalsCommitted: commit: uint64 -> unit
    /// See Effect.Send.
    abstract Send: messages: Message[] -> unit
    /// See Effect.SaveSnapshot.
    abstract SaveSnapshot: snapshot: Snapshot -> unit
    /// See Effect.Sync.
    abstract Sync: unit -> unit
    /// See Effect.NotifyPersisted.
    abstract NotifyPersisted: unit -> unit
    /// See Effect.ApplySnapshotToLog.
    abstract ApplySnapshotToLog: snapshot: Snapshot -> unit
    /// See Effect.Release.
    abstract Release: snapshot: Snapshot -> unit
    /// See Effect.AppendToLog.
    abstract AppendToLog: entries: Entry[] -> unit
    /// See Effect.WaitApplied.
    abstract WaitApplied: unit -> unit
    /// See Effect.RedirectSnapshot.
    abstract RedirectSnapshot: message: Message -> unit
    /// See Effect.HeartbeatLate.
    abstract HeartbeatLate: toPeer: uint64 * exceeded: TimeSpan -> unit
    /// See Effect.Advance.
    abstract Advance: unit -> unit

/// Runs plans through an IEffectHandler.
module Interpreter =

    let private guarded (h: IEffectHandler) (g: Guard) (run: unit -> unit) =
        g.Before |> Option.iter h.Failpoint
        run ()
        g.After |> Option.iter h.Failpoint

    /// Runs one effect, with the failpoints it names around it.
    let dispatch (h: IEffectHandler) (effect: Effect) =
        match effect with
        | UpdateSoftState u -> h.UpdateSoftState u
        | PublishReadState rs -> h.PublishReadState rs
        | Apply work ->
            let ci = match work.CommittedIndex with Some ci -> Nullable ci | None -> Nullable()
            h.Apply(work.Entries, work.Snapshot, ci)
        | Save(hs, ents, mustSync, g) -> guarded h g (fun () -> h.Save(hs, ents, mustSync))
        | ProposalsCommitted c -> h.ProposalsCommitted c
        | Send(ms, g) -> guarded h g (fun () -> h.Send(Array.ofList ms))
        | SaveSnapshot(snap, g) -> guarded h g (fun () -> h.SaveSnapshot snap)
        | Sync -> h.Sync()
        | NotifyPersisted -> h.NotifyPersisted()
        | ApplySnapshotToLog(snap, g) -> guarded h g (fun () -> h.ApplySnapshotToLog snap)
        | Release(snap, g) -> guarded h g (fun () -> h.Release snap)
        | AppendToLog ents -> h.AppendToLog ents
        | WaitApplied -> h.WaitApplied()
        | RedirectSnapshot m -> h.RedirectSnapshot m
        | HeartbeatLate(peer, exceeded) -> h.HeartbeatLate(peer, exceeded)
        | Advance -> h.Advance()

    /// Runs a plan's effects in order.
    let run (h: IEffectHandler) (plan: Plan) =
        for e in plan.Effects do
            dispatch h e

/// A plan as text in etcd's vocabulary, one effect per line (one line per message sent), for tests
/// and reviewers.
module PlanText =

    /// Go's time.Duration.String (`0s`, `750µs`, `50ms`, `1.5s`, `2m3s`), at TimeSpan's precision.
    let duration (t: TimeSpan) =
        let ns = t.Ticks * 100L
        let sign = if ns < 0L then "-" else ""
        let u = if ns < 0L then -ns else ns
        let fraction (v: int64) (unit: int64) =
            let whole = v / unit
            let rest = v % unit
            if rest = 0L then string whole
            else
                let digits = (string (unit + rest)).Substring 1
                sprintf "%d.%s" whole (digits.TrimEnd '0')
        let text =
            if u = 0L then "0s"
            elif u < 1_000L then sprintf "%dns" u
            elif u < 1_000_000L then fraction u 1_000L + "µs"
            elif u < 1_000_000_000L then fraction u 1_000_000L + "ms"
            else
                let hours = u / 3_600_000_000_000L
                let minutes = u / 60_000_000_000L % 60L
                let seconds = fraction (u % 60_000_000_000L) 1_000_000_000L + "s"
                if hours > 0L then sprintf "%dh%dm%s" hours minutes seconds
                elif minutes > 0L then sprintf "%dm%s" minutes seconds
                else seconds
        sign + text

    /// `1/4..1/6` (term/index of the first and last), `1/4` for one entry, `none` for none.
    let entryRange (ents: Entry[]) =
        match ents.Length with
        | 0 -> "none"
        | 1 -> sprintf "%d/%d" ents[0].Term ents[0].Index
        | n -> sprintf "%d/%d..%d/%d" ents[0].Term ents[0].Index ents[n - 1].Term ents[n - 1].Index

    let private snapshotShort (s: Snapshot) = sprintf "Index:%d Term:%d" s.Metadata.Index s.Metadata.Term

    let private guarded (g: Guard) (lines: string list) =
        let site = Option.map (fun s -> sprintf "failpoint(%s)" (Gofail.name s)) >> Option.toList
        site g.Before @ lines @ site g.After

    /// The lines of one effect, with its failpoints (`failpoint(raftBeforeSave)`) before and after.
    let effect (e: Effect) : string list =
        match e with
        | UpdateSoftState u ->
            let change = if u.NewLeader then ", leader_changes+1" else ""
            [ sprintf "soft-state(lead=%d, has_leader=%d, is_leader=%d%s)" u.Lead (if u.Lead <> 0UL then 1 else 0) (if u.IsLeader then 1 else 0) change ]
        | PublishReadState rs -> [ sprintf "read-state(index=%d, ctx=%s)" rs.Index (Describe.quote rs.RequestCtx) ]
        | Apply ap ->
            let parts =
                [ if not (Pb.isEmptySnap ap.Snapshot) then "snapshot=" + snapshotShort ap.Snapshot
                  if ap.Entries.Length > 0 then "entries=" + entryRange ap.Entries
                  match ap.CommittedIndex with
                  | Some ci -> sprintf "committed-index=%d" ci
                  | None -> () ]
            [ sprintf "apply(%s)" (if parts.IsEmpty then "nothing" else String.Join(", ", parts)) ]
        | Save(hs, ents, mustSync, g) ->
            let parts =
                [ if ents.Length > 0 then "entries=" + entryRange ents
                  if not (Pb.isEmptyHardState hs) then "hs=" + Describe.hardState hs
                  if mustSync then "sync" ]
            guarded g [ sprintf "save(%s)" (String.Join(", ", parts)) ]
        | ProposalsCommitted c -> [ sprintf "metric(proposals_committed=%d)" c ]
        | Send(ms, g) -> ms |> List.map (fun m -> sprintf "send(%s)" (Describe.message m)) |> guarded g
        | SaveSnapshot(s, g) -> guarded g [ sprintf "save-snapshot(%s)" (Describe.snapshot s) ]
        | Sync -> [ "sync" ]
        | NotifyPersisted -> [ "notify" ]
        | ApplySnapshotToLog(s, g) -> guarded g [ sprintf "apply-snapshot-to-log(%s)" (snapshotShort s) ]
        | Release(s, g) -> guarded g [ sprintf "release(%s)" (snapshotShort s) ]
        | AppendToLog ents -> [ sprintf "append-to-log(%s)" (entryRange ents) ]
        | WaitApplied -> [ "wait-applied" ]
        | RedirectSnapshot m -> [ sprintf "redirect-snapshot(%s)" (Describe.message m) ]
        | HeartbeatLate(peer, exceed) ->
            [ sprintf "heartbeat-late(to=%x, exceeded=%s, heartbeat_send_failures+1)" peer (duration exceed) ]
        | Advance -> [ "advance" ]

    /// The whole plan, one line per effect line, each ending in a newline.
    let describe (effects: Effect list) =
        let sb = Text.StringBuilder()
        for e in effects do
            for line in effect e do
                sb.Append(line).Append('\n') |> ignore
        sb.ToString()
