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

/// One thing the shell does. The comments say what the seed does for each.
type Effect =
    /// Track the leader, tell the server whether it leads, set the leader metrics.
    | UpdateSoftState of LeaderUpdate
    /// Hand the newest ReadState to the linearizable-read loop.
    | PublishReadState of ReadState
    /// Hand committed entries and snapshot to the apply loop; returns at once.
    | Apply of ApplyWork
    /// Append the hard state and entries to the WAL; fsync when mustSync.
    | Save of hardState: HardState * entries: Entry[] * mustSync: bool
    /// Set the proposals_committed metric to the hard state's commit index.
    | ProposalsCommitted of uint64
    /// Give messages to the transport (never blocks; may drop).
    | Send of Message list
    /// Write the snapshot file, then the WAL snapshot record, both fsynced.
    | SaveSnapshot of Snapshot
    /// fsync the WAL.
    | Sync
    /// Signal the apply loop (the seed's notifyc) that this Ready's disk work it waits for is done.
    | NotifyPersisted
    /// MemoryStorage.ApplySnapshot.
    | ApplySnapshotToLog of Snapshot
    /// Release WAL segments and snapshot files older than the snapshot.
    | Release of Snapshot
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
        let save =
            if rd.Entries.Length = 0 && Pb.isEmptyHardState rd.HardState then None
            else Some(Save(rd.HardState, rd.Entries, rd.MustSync))

        // Entries the apply loop would apply before they are on disk: save them first. A snapshot in
        // the same Ready goes first of all, so that no entry reaches the WAL ahead of the snapshot it
        // follows (etcd issue 10219); the seed saved it after the entries.
        let waitWALSync = shouldWaitWALSync rd
        if waitWALSync then
            if hasSnapshot then effects.Add(SaveSnapshot rd.Snapshot)
            save |> Option.iter effects.Add

        // The apply loop gets only Readys with something to apply, and waits for the notify of
        // those only: a Ready without committed entries or snapshot yields neither.
        let committed = committedIndex rd
        let toApply = rd.CommittedEntries.Length > 0 || hasSnapshot || committed.IsSome
        if toApply then
            effects.Add(Apply { Entries = rd.CommittedEntries; Snapshot = rd.Snapshot; CommittedIndex = committed })
        let notify () = if toApply then effects.Add NotifyPersisted

        let sendProcessed (processed: ProcessedMessages) =
            effects.AddRange processed.Effects
            if not processed.ToSend.IsEmpty then effects.Add(Send processed.ToSend)

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
            if hasSnapshot then effects.Add(SaveSnapshot rd.Snapshot)
            save |> Option.iter effects.Add
        if not (Pb.isEmptyHardState rd.HardState) then effects.Add(ProposalsCommitted rd.HardState.Commit)

        if hasSnapshot then
            // The hard state must be on disk before Release drops the WAL data it would need
            // (etcd issue 10219); the apply loop may then take the snapshot.
            effects.Add Sync
            effects.Add NotifyPersisted
            effects.Add(ApplySnapshotToLog rd.Snapshot)
            effects.Add(Release rd.Snapshot)

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

    /// The lines of one effect.
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
        | Save(hs, ents, mustSync) ->
            let parts =
                [ if ents.Length > 0 then "entries=" + entryRange ents
                  if not (Pb.isEmptyHardState hs) then "hs=" + Describe.hardState hs
                  if mustSync then "sync" ]
            [ sprintf "save(%s)" (String.Join(", ", parts)) ]
        | ProposalsCommitted c -> [ sprintf "metric(proposals_committed=%d)" c ]
        | Send ms -> ms |> List.map (fun m -> sprintf "send(%s)" (Describe.message m))
        | SaveSnapshot s -> [ sprintf "save-snapshot(%s)" (Describe.snapshot s) ]
        | Sync -> [ "sync" ]
        | NotifyPersisted -> [ "notify" ]
        | ApplySnapshotToLog s -> [ sprintf "apply-snapshot-to-log(%s)" (snapshotShort s) ]
        | Release s -> [ sprintf "release(%s)" (snapshotShort s) ]
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
