/// etcd raft's state machine (raft.go) over the immutable `Raft` value: elections (with PreVote and
/// CheckQuorum), replication with probe/replicate/snapshot progress, commitment by quorum,
/// ReadIndex, leadership transfer, learners and configuration changes. Every function returns
/// the new state; what etcd would send, log or hand out accumulates in the state until the
/// RawNode's Ready drains it.
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Raft.Core.Raft

open System

/// The id standing for "no node": no leader, no vote, no transfer (etcd's None).
[<Literal>]
let NoNode = 0UL

/// No size limit.
[<Literal>]
let NoLimit = UInt64.MaxValue

let private campaignTransferContext = Text.Encoding.ASCII.GetBytes "CampaignTransfer"

// ---------------------------------------------------------------------------------------------
// Log lines, in etcd's words.

let private logAt (level: LogLevel) (text: string) (r: Raft) = { r with Logs = { Level = level; Text = text } :: r.Logs }
let private debug text r = logAt LogLevel.Debug text r
let private info text r = logAt LogLevel.Info text r
let private warn text r = logAt LogLevel.Warn text r
let private logError text r = logAt LogLevel.Error text r

/// Adds lines returned by a log operation, oldest first.
let private addLines (lines: LogLine list) (r: Raft) =
    match lines with
    | [] -> r
    | _ -> { r with Logs = List.rev lines @ r.Logs }

let private withLog (l: RaftLog) (r: Raft) = { r with RaftLog = l }

/// Go's `%v` of a []byte: `[1 2 3]`.
let private goBytes (b: byte[]) = Describe.uint64s (b |> Seq.map uint64)

let private confChangeTypeName = Pb.confChangeTypeName

let private transitionName =
    function
    | ConfChangeTransitionAuto -> "ConfChangeTransitionAuto"
    | ConfChangeTransitionJointImplicit -> "ConfChangeTransitionJointImplicit"
    | ConfChangeTransitionJointExplicit -> "ConfChangeTransitionJointExplicit"

/// Go's `%v` of a ConfChangeI holding a struct value: its fields in order, no names.
let describeConfChangeI (cc: ConfChangeI) =
    match cc with
    | V1 c -> sprintf "{%d %s %d %s}" c.ID (confChangeTypeName c.Type) c.NodeID (goBytes c.Context)
    | V2 c ->
        let changes =
            c.Changes
            |> List.map (fun s -> sprintf "{%s %d}" (confChangeTypeName s.Type) s.NodeID)
            |> String.concat " "
        sprintf "{%s [%s] %s}" (transitionName c.Transition) changes (goBytes c.Context)

/// Go's `%v` of a ConfState value.
let private describeConfStateValue (cs: ConfState) =
    sprintf
        "{%s %s %s %s %b}"
        (Describe.uint64s cs.Voters)
        (Describe.uint64s cs.Learners)
        (Describe.uint64s cs.VotersOutgoing)
        (Describe.uint64s cs.LearnersNext)
        cs.AutoLeave

// ---------------------------------------------------------------------------------------------
// Small queries.

let hasLeader (r: Raft) = r.Lead <> NoNode

let softState (r: Raft) : SoftState = { Lead = r.Lead; RaftState = r.State }

let hardState (r: Raft) : HardState =
    { Term = r.Term
      Vote = r.Vote
      Commit = r.RaftLog.Committed }

let private lastIndex (r: Raft) = RaftLog.lastIndex r.RaftLog
let private lastTerm (r: Raft) = RaftLog.lastTerm r.RaftLog

let private progress (id: uint64) (r: Raft) =
    match Map.tryFind id r.Prs.Progress with
    | Some pr -> pr
    | None -> Invariant.broken (sprintf "%x has no progress for %x" r.Id id)

let private setProgress (id: uint64) (pr: Progress) (r: Raft) =
    { r with Prs = ProgressTracker.setProgress id pr r.Prs }

let private updateProgress (id: uint64) (f: Progress -> Progress) (r: Raft) =
    { r with Prs = ProgressTracker.updateProgress id f r.Prs }

/// Whether the node can become leader: it is a voter and has no snapshot pending.
let promotable (r: Raft) =
    match Map.tryFind r.Id r.Prs.Progress with
    | Some pr -> not pr.IsLearner && not (RaftLog.hasPendingSnapshot r.RaftLog)
    | None -> false

/// Whether the node has committed an entry of its current term.
let committedEntryInCurrentTerm (r: Raft) =
    RaftLog.zeroTermOnErrCompacted (RaftLog.term r.RaftLog.Committed r.RaftLog) = r.Term

let pastElectionTimeout (r: Raft) = r.ElectionElapsed >= r.RandomizedElectionTimeout

// ---------------------------------------------------------------------------------------------
// Randomness: splitmix64 over the state held in the node.

let private nextRandom (state: uint64) =
    let s = state + 0x9E3779B97F4A7C15UL
    let mutable z = s
    z <- (z ^^^ (z >>> 30)) * 0xBF58476D1CE4E5B9UL
    z <- (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
    z ^^^ (z >>> 31), s

let private resetRandomizedElectionTimeout (r: Raft) =
    let v, s = nextRandom r.Rand
    let et = r.Settings.ElectionTimeout
    { r with
        RandomizedElectionTimeout = et + int (v % uint64 et)
        Rand = s }

// ---------------------------------------------------------------------------------------------
// Sending.

/// A message as it is sent: From filled in, and (for all but campaign messages, proposals and
/// read requests) the current term.
let private outgoing (m: Message) (r: Raft) =
    let from = if m.From = NoNode then r.Id else m.From
    let term =
        match m.Type with
        | MsgVote
        | MsgVoteResp
        | MsgPreVote
        | MsgPreVoteResp ->
            // Campaign messages carry the term they are about, which is never 0.
            if m.Term = 0UL then
                Invariant.broken (sprintf "term should be set when sending %s" (Pb.messageTypeName m.Type))
            m.Term
        | _ ->
            if m.Term <> 0UL then
                Invariant.broken (
                    sprintf "term should not be set when sending %s (was %d)" (Pb.messageTypeName m.Type) m.Term
                )
            // Proposals and read requests are forwarded to the leader like local messages.
            if m.Type <> MsgProp && m.Type <> MsgReadIndex then r.Term else 0UL
    if from = m.From && term = m.Term then m else { m with From = from; Term = term }

/// Queues a message for the next Ready.
let private send (m: Message) (r: Raft) = { r with Msgs = outgoing m r :: r.Msgs }

/// Sends an append (or a snapshot, when the entries are compacted) to `to` unless its progress
/// is paused; with sendIfEmpty false, an append without entries is not sent. Returns whether a
/// message was sent.
let private maybeSendAppend (``to``: uint64) (sendIfEmpty: bool) (r: Raft) : Raft * bool =
    let pr = progress ``to`` r
    if Progress.isPaused pr then
        r, false
    else
        let term = RaftLog.term (pr.Next - 1UL) r.RaftLog
        let ents = RaftLog.entries pr.Next r.Settings.MaxMsgSize r.RaftLog
        let noEntries =
            match ents with
            | Ok e -> e.IsEmpty
            | Error _ -> true
        if noEntries && not sendIfEmpty then
            r, false
        else
            match term, ents with
            | Ok term, Ok ents ->
                let m =
                    { Pb.emptyMessage with
                        Type = MsgApp
                        To = ``to``
                        Index = pr.Next - 1UL
                        LogTerm = term
                        Entries = EntrySeq.toArray ents
                        Commit = r.RaftLog.Committed }
                let pr =
                    if ents.IsEmpty then
                        pr
                    else
                        match pr.State with
                        | StateReplicate ->
                            // Optimistically move Next past what is now in flight.
                            let last = (EntrySeq.last ents).Index
                            { Progress.optimisticUpdate last pr with Inflights = Inflights.add last pr.Inflights }
                        | StateProbe -> { pr with ProbeSent = true }
                        | StateSnapshot ->
                            Invariant.broken (
                                sprintf "%x is sending append in unhandled state %s" r.Id (Progress.stateName pr.State)
                            )
                { r with
                    Prs = ProgressTracker.setProgress ``to`` pr r.Prs
                    Msgs = outgoing m r :: r.Msgs },
                true
            | _ ->
                // The term or the entries are compacted away: send the snapshot instead.
                if not pr.RecentActive then
                    debug (sprintf "ignore sending snapshot to %x since it is not recently active" ``to``) r, false
                else
                    let snapshot = RaftLog.snapshot r.RaftLog
                    if Pb.isEmptySnap snapshot then
                        Invariant.broken "need non-empty snapshot"
                    let sindex, sterm = snapshot.Metadata.Index, snapshot.Metadata.Term
                    let r =
                        debug
                            (sprintf
                                "%x [firstindex: %d, commit: %d] sent snapshot[index: %d, term: %d] to %x [%s]"
                                r.Id
                                (RaftLog.firstIndex r.RaftLog)
                                r.RaftLog.Committed
                                sindex
                                sterm
                                ``to``
                                (Progress.toString pr))
                            r
                    let pr = Progress.becomeSnapshot sindex pr
                    let r =
                        debug
                            (sprintf "%x paused sending replication messages to %x [%s]" r.Id ``to`` (Progress.toString pr))
                            r
                    let m =
                        { Pb.emptyMessage with
                            Type = MsgSnap
                            To = ``to``
                            Snapshot = snapshot }
                    r |> setProgress ``to`` pr |> send m, true

/// Sends an append with new entries (if any) and the commit index to `to`.
let private sendAppend (``to``: uint64) (r: Raft) = fst (maybeSendAppend ``to`` true r)

/// Sends a heartbeat; the commit it carries never exceeds what the follower has matched.
let private sendHeartbeat (``to``: uint64) (ctx: byte[]) (r: Raft) =
    let commit = min (progress ``to`` r).Match r.RaftLog.Committed
    send
        { Pb.emptyMessage with
            Type = MsgHeartbeat
            To = ``to``
            Commit = commit
            Context = ctx }
        r

/// Visits every tracked peer but this node, in id order.
let private forEachPeer (f: uint64 -> Raft -> Raft) (r: Raft) =
    r.Prs.Progress |> Map.fold (fun (r: Raft) id _ -> if id = r.Id then r else f id r) r

/// Sends appends to every peer that is not up to date.
let private bcastAppend (r: Raft) = forEachPeer sendAppend r

let private bcastHeartbeatWithCtx (ctx: byte[]) (r: Raft) = forEachPeer (fun id r -> sendHeartbeat id ctx r) r

/// Sends heartbeats to every peer, carrying the context of the newest pending read request.
let private bcastHeartbeat (r: Raft) =
    match ReadOnly.lastPendingRequestCtx r.ReadOnly with
    | "" -> bcastHeartbeatWithCtx [||] r
    | ctx -> bcastHeartbeatWithCtx (Text.Encoding.Latin1.GetBytes ctx) r

let private sendTimeoutNow (``to``: uint64) (r: Raft) =
    send { Pb.emptyMessage with Type = MsgTimeoutNow; To = ``to`` } r

let private abortLeaderTransfer (r: Raft) = { r with LeadTransferee = NoNode }

// ---------------------------------------------------------------------------------------------
// Commitment, terms and roles.

/// Advances the commit index to what a quorum acknowledged; false when it did not move.
let private maybeCommit (r: Raft) : Raft * bool =
    let mci = ProgressTracker.committed r.Prs
    match RaftLog.maybeCommit mci r.Term r.RaftLog with
    | Some l -> withLog l r, true
    | None -> r, false

/// Resets the volatile state for `term`: votes, timers, transfer, progress of every peer.
let private reset (term: uint64) (r: Raft) =
    let r = if r.Term <> term then { r with Term = term; Vote = NoNode } else r
    let r =
        { r with
            Lead = NoNode
            ElectionElapsed = 0
            HeartbeatElapsed = 0 }
        |> resetRandomizedElectionTimeout
        |> abortLeaderTransfer
    let li = lastIndex r
    let maxInflight = r.Prs.MaxInflight
    let prs =
        r.Prs
        |> ProgressTracker.resetVotes
        |> ProgressTracker.mapProgress (fun id pr ->
            let fresh = Progress.create maxInflight (li + 1UL) pr.IsLearner
            if id = r.Id then { fresh with Match = li } else fresh)
    { r with
        Prs = prs
        PendingConfIndex = 0UL
        UncommittedSize = 0UL
        ReadOnly = ReadOnly.create r.ReadOnly.Option }

let private payloadSize (ents: Entry seq) =
    ents |> Seq.sumBy (fun e -> uint64 (Pb.payloadSize e))

/// The uncommitted size with the proposed entries added, or None when they would push it over
/// the limit. An empty tail accepts any size, and empty payloads are always accepted.
let private increaseUncommittedSize (ents: Entry[]) (r: Raft) : uint64 option =
    let mutable s = 0UL
    for e in ents do
        s <- s + uint64 (Pb.payloadSize e)
    if r.UncommittedSize > 0UL && s > 0UL && r.UncommittedSize + s > r.Settings.MaxUncommittedSize then
        None
    else
        Some(r.UncommittedSize + s)

/// Accounts for newly committed entries; saturates at zero (the size may be underestimated).
let private reduceUncommittedSize (ents: Entry seq) (r: Raft) =
    if r.UncommittedSize = 0UL then
        // Followers do not track the size.
        r
    else
        let s = payloadSize ents
        if s > r.UncommittedSize then { r with UncommittedSize = 0UL }
        else { r with UncommittedSize = r.UncommittedSize - s }

/// Appends entries of the current term to the leader's log; false when the uncommitted size
/// limit drops them.
let private appendEntry (es: Entry[]) (r: Raft) : Raft * bool =
    let li = lastIndex r
    let es = es |> Array.mapi (fun i e -> { e with Term = r.Term; Index = li + 1UL + uint64 i })
    match increaseUncommittedSize es r with
    | None ->
        debug
            (sprintf "%x appending new entries to log would exceed uncommitted entry size limit; dropping proposal" r.Id)
            r,
        false
    | Some size ->
        let l, lines = RaftLog.append (EntrySeq.ofOwnedArray es) r.RaftLog
        let li = RaftLog.lastIndex l
        let r =
            { r with
                UncommittedSize = size
                RaftLog = l
                Prs = ProgressTracker.updateProgress r.Id (fun pr -> snd (Progress.maybeUpdate li pr)) r.Prs }
            |> addLines lines
        // The caller broadcasts whether or not this commits.
        fst (maybeCommit r), true

let becomeFollower (term: uint64) (lead: uint64) (r: Raft) =
    let r = reset term r
    let r = { r with Lead = lead; State = StateFollower }
    info (sprintf "%x became follower at term %d" r.Id r.Term) r

let becomeCandidate (r: Raft) =
    if r.State = StateLeader then
        Invariant.broken "invalid transition [leader -> candidate]"
    let r = reset (r.Term + 1UL) r
    let r = { r with Vote = r.Id; State = StateCandidate }
    info (sprintf "%x became candidate at term %d" r.Id r.Term) r

let becomePreCandidate (r: Raft) =
    if r.State = StateLeader then
        Invariant.broken "invalid transition [leader -> pre-candidate]"
    // Term and vote stay: a pre-candidate only asks whether it could win.
    let r =
        { r with
            Prs = ProgressTracker.resetVotes r.Prs
            Lead = NoNode
            State = StatePreCandidate }
    info (sprintf "%x became pre-candidate at term %d" r.Id r.Term) r

let becomeLeader (r: Raft) =
    if r.State = StateFollower then
        Invariant.broken "invalid transition [follower -> leader]"
    let r = reset r.Term r
    let r = { r with Lead = r.Id; State = StateLeader }
    // The leader trivially replicates to itself.
    let r = updateProgress r.Id Progress.becomeReplicate r
    // Any entry in the log may be an unapplied conf change; refuse new ones until all is applied.
    let r = { r with PendingConfIndex = lastIndex r }
    let emptyEnt = { Term = 0UL; Index = 0UL; Type = EntryNormal; Data = [||] }
    let r, accepted = appendEntry [| emptyEnt |] r
    if not accepted then
        Invariant.broken "empty entry was dropped"
    // The empty entry does not count towards the uncommitted quota (it has no payload anyway).
    let r = reduceUncommittedSize [ emptyEnt ] r
    info (sprintf "%x became leader at term %d" r.Id r.Term) r

/// Records a vote and tallies the election.
let private poll (id: uint64) (t: MessageType) (v: bool) (r: Raft) =
    let r =
        if v then info (sprintf "%x received %s from %x at term %d" r.Id (Pb.messageTypeName t) id r.Term) r
        else info (sprintf "%x received %s rejection from %x at term %d" r.Id (Pb.messageTypeName t) id r.Term) r
    let r = { r with Prs = ProgressTracker.recordVote id v r.Prs }
    let granted, rejected, result = ProgressTracker.tallyVotes r.Prs
    r, granted, rejected, result

/// Becomes (pre-)candidate and asks every voter for its vote.
let rec private campaign (t: CampaignType) (r: Raft) =
    let r =
        if not (promotable r) then
            // Callers check this; never expected.
            warn (sprintf "%x is unpromotable; campaign() should have been called" r.Id) r
        else
            r
    let r, voteMsg, term =
        match t with
        | CampaignPreElection ->
            let r = becomePreCandidate r
            // Pre-votes are for the next term, before the term is raised.
            r, MsgPreVote, r.Term + 1UL
        | _ ->
            let r = becomeCandidate r
            r, MsgVote, r.Term
    let r, _, _, res = poll r.Id (Pb.voteRespMsgType voteMsg) true r
    if res = VoteWon then
        // Only this node votes: a single-node cluster.
        match t with
        | CampaignPreElection -> campaign CampaignElection r
        | _ -> becomeLeader r
    else
        ProgressTracker.voterNodes r.Prs
        |> List.fold
            (fun (r: Raft) id ->
                if id = r.Id then
                    r
                else
                    let r =
                        info
                            (sprintf
                                "%x [logterm: %d, index: %d] sent %s request to %x at term %d"
                                r.Id
                                (lastTerm r)
                                (lastIndex r)
                                (Pb.messageTypeName voteMsg)
                                id
                                r.Term)
                            r
                    let ctx = if t = CampaignTransfer then campaignTransferContext else [||]
                    send
                        { Pb.emptyMessage with
                            Term = term
                            To = id
                            Type = voteMsg
                            Index = lastIndex r
                            LogTerm = lastTerm r
                            Context = ctx }
                        r)
            r

let private numOfPendingConf (ents: EntrySeq) =
    ents |> Seq.filter (fun e -> e.Type = EntryConfChange || e.Type = EntryConfChangeV2) |> Seq.length

/// Starts an election unless this node leads already, cannot be promoted, or has committed conf
/// changes still to apply.
let private hup (t: CampaignType) (r: Raft) =
    if r.State = StateLeader then
        debug (sprintf "%x ignoring MsgHup because already leader" r.Id) r
    elif not (promotable r) then
        warn (sprintf "%x is unpromotable and can not campaign" r.Id) r
    else
        let l = r.RaftLog
        let ents =
            match RaftLog.slice (l.Applied + 1UL) (l.Committed + 1UL) NoLimit l with
            | Ok ents -> ents
            | Error e ->
                Invariant.broken (sprintf "unexpected error getting unapplied entries (%s)" (StorageError.message e))
        let n = numOfPendingConf ents
        if n <> 0 && l.Committed > l.Applied then
            warn
                (sprintf
                    "%x cannot campaign at term %d since there are still %d pending configuration changes to apply"
                    r.Id
                    r.Term
                    n)
                r
        else
            let r = info (sprintf "%x is starting a new election at term %d" r.Id r.Term) r
            campaign t r

// ---------------------------------------------------------------------------------------------
// Configuration.

/// Installs a configuration computed by a Changer; a leader then commits what the new quorum
/// allows and probes new peers. Returns the resulting ConfState.
let private switchToConfig (cfg: TrackerConfig) (prs: ProgressMap) (r: Raft) : Raft * ConfState =
    let r = { r with Prs = ProgressTracker.withConfig cfg prs r.Prs }
    let r = info (sprintf "%x switched to configuration %s" r.Id (TrackerConfig.toString r.Prs.Config)) r
    let cs = ProgressTracker.confState r.Prs
    let self = Map.tryFind r.Id r.Prs.Progress
    let r = { r with IsLearner = (match self with Some pr -> pr.IsLearner | None -> false) }
    if (self.IsNone || r.IsLearner) && r.State = StateLeader then
        // A leader that was removed or demoted keeps leading until it steps down on its own.
        r, cs
    elif r.State <> StateLeader || List.isEmpty cs.Voters then
        r, cs
    else
        let r =
            match maybeCommit r with
            | r, true -> bcastAppend r
            | r, false ->
                // Probe newly added peers right away.
                r.Prs.Progress |> Map.fold (fun r id _ -> fst (maybeSendAppend id false r)) r
        let r =
            if r.LeadTransferee <> NoNode && not (MajorityConfig.contains r.LeadTransferee (JointConfig.ids r.Prs.Config.Voters)) then
                abortLeaderTransfer r
            else
                r
        r, cs

let private sortedConfState (cs: ConfState) =
    { cs with
        Voters = List.sort cs.Voters
        Learners = List.sort cs.Learners
        VotersOutgoing = List.sort cs.VotersOutgoing
        LearnersNext = List.sort cs.LearnersNext }

/// The configuration restored from a ConfState must describe that same ConfState.
let private assertConfStatesEquivalent (cs1: ConfState) (cs2: ConfState) =
    if sortedConfState cs1 <> sortedConfState cs2 then
        Invariant.broken (
            sprintf
                "ConfStates not equivalent after sorting:\n%s\n%s"
                (Describe.confState (sortedConfState cs1))
                (Describe.confState (sortedConfState cs2))
        )

let private restoreConfig (cs: ConfState) (r: Raft) =
    let chg = { Tracker = ProgressTracker.make r.Prs.MaxInflight; LastIndex = lastIndex r }
    match Restore.restore chg cs with
    | Ok(cfg, prs) -> cfg, prs
    | Error err -> Invariant.broken (sprintf "unable to restore config %s: %s" (describeConfStateValue cs) err)

/// Applies a committed configuration change; returns the new ConfState. A change the Changer
/// refuses is a broken invariant (the leader never lets such a change into the log).
let applyConfChange (cc: ConfChangeV2) (r: Raft) : Raft * ConfState =
    let chg = { Tracker = r.Prs; LastIndex = lastIndex r }
    let result =
        if Pb.leaveJoint cc then
            Changer.leaveJoint chg
        else
            match Pb.enterJoint cc with
            | autoLeave, true -> Changer.enterJoint autoLeave cc.Changes chg
            | _, false -> Changer.simple cc.Changes chg
    match result with
    | Ok(cfg, prs) -> switchToConfig cfg prs r
    | Error err -> Invariant.broken err

// ---------------------------------------------------------------------------------------------
// Followers: appends, heartbeats, snapshots.

let private handleAppendEntries (m: Message) (r: Raft) =
    if m.Index < r.RaftLog.Committed then
        send { Pb.emptyMessage with To = m.From; Type = MsgAppResp; Index = r.RaftLog.Committed } r
    else
        match RaftLog.maybeAppend m.Index m.LogTerm m.Commit (EntrySeq.ofArray m.Entries) r.RaftLog with
        | Some(l, lastnewi, lines) ->
            r
            |> withLog l
            |> addLines lines
            |> send { Pb.emptyMessage with To = m.From; Type = MsgAppResp; Index = lastnewi }
        | None ->
            let r =
                debug
                    (sprintf
                        "%x [logterm: %d, index: %d] rejected MsgApp [logterm: %d, index: %d] from %x"
                        r.Id
                        (RaftLog.zeroTermOnErrCompacted (RaftLog.term m.Index r.RaftLog))
                        m.Index
                        m.LogTerm
                        m.Index
                        m.From)
                    r
            // Hint the largest (index, term) at which the logs may still agree: the largest index
            // with a term <= m.LogTerm, so the leader skips the follower's divergent tail.
            let hintIndex = min m.Index (lastIndex r)
            let hintIndex, lines = RaftLog.findConflictByTerm hintIndex m.LogTerm r.RaftLog
            let r = addLines lines r
            let hintTerm =
                match RaftLog.term hintIndex r.RaftLog with
                | Ok t -> t
                | Error e -> Invariant.broken (sprintf "term(%d) must be valid, but got %s" hintIndex (StorageError.message e))
            send
                { Pb.emptyMessage with
                    To = m.From
                    Type = MsgAppResp
                    Index = m.Index
                    Reject = true
                    RejectHint = hintIndex
                    LogTerm = hintTerm }
                r

let private handleHeartbeat (m: Message) (r: Raft) =
    let r = withLog (RaftLog.commitTo m.Commit r.RaftLog) r
    send { Pb.emptyMessage with To = m.From; Type = MsgHeartbeatResp; Context = m.Context } r

/// Restores the log and configuration from a snapshot; false when it is ignored (obsolete, or
/// not applicable to this node).
let private restore (s: Snapshot) (r: Raft) : Raft * bool =
    if s.Metadata.Index <= r.RaftLog.Committed then
        r, false
    elif r.State <> StateFollower then
        // Defense in depth: only followers restore snapshots.
        let r = warn (sprintf "%x attempted to restore snapshot as leader; should never happen" r.Id) r
        becomeFollower (r.Term + 1UL) NoNode r, false
    else
        let cs = s.Metadata.ConfState
        // LearnersNext need not be checked: its members are in VotersOutgoing.
        let found =
            List.contains r.Id cs.Voters || List.contains r.Id cs.Learners || List.contains r.Id cs.VotersOutgoing
        if not found then
            warn
                (sprintf
                    "%x attempted to restore snapshot but it is not in the ConfState %s; should never happen"
                    r.Id
                    (describeConfStateValue cs))
                r,
            false
        elif RaftLog.matchTerm s.Metadata.Index s.Metadata.Term r.RaftLog then
            let r =
                info
                    (sprintf
                        "%x [commit: %d, lastindex: %d, lastterm: %d] fast-forwarded commit to snapshot [index: %d, term: %d]"
                        r.Id
                        r.RaftLog.Committed
                        (lastIndex r)
                        (lastTerm r)
                        s.Metadata.Index
                        s.Metadata.Term)
                    r
            withLog (RaftLog.commitTo s.Metadata.Index r.RaftLog) r, false
        else
            let l, line = RaftLog.restore s r.RaftLog
            let r = r |> withLog l |> addLines [ line ]
            // Start over from an empty tracker and add the snapshot's peers.
            let r = { r with Prs = ProgressTracker.make r.Prs.MaxInflight }
            let cfg, prs = restoreConfig cs r
            let r, cs2 = switchToConfig cfg prs r
            assertConfStatesEquivalent cs cs2
            let r = updateProgress r.Id (fun pr -> snd (Progress.maybeUpdate (pr.Next - 1UL) pr)) r
            let r =
                info
                    (sprintf
                        "%x [commit: %d, lastindex: %d, lastterm: %d] restored snapshot [index: %d, term: %d]"
                        r.Id
                        r.RaftLog.Committed
                        (lastIndex r)
                        (lastTerm r)
                        s.Metadata.Index
                        s.Metadata.Term)
                    r
            r, true

let private handleSnapshot (m: Message) (r: Raft) =
    let sindex, sterm = m.Snapshot.Metadata.Index, m.Snapshot.Metadata.Term
    match restore m.Snapshot r with
    | r, true ->
        let r =
            info (sprintf "%x [commit: %d] restored snapshot [index: %d, term: %d]" r.Id r.RaftLog.Committed sindex sterm) r
        send { Pb.emptyMessage with To = m.From; Type = MsgAppResp; Index = lastIndex r } r
    | r, false ->
        let r =
            info (sprintf "%x [commit: %d] ignored snapshot [index: %d, term: %d]" r.Id r.RaftLog.Committed sindex sterm) r
        send { Pb.emptyMessage with To = m.From; Type = MsgAppResp; Index = r.RaftLog.Committed } r

// ---------------------------------------------------------------------------------------------
// ReadIndex.

/// Answers a read request: locally as a ReadState, or with a MsgReadIndexResp to a remote peer.
let private responseToReadIndexReq (req: Message) (readIndex: uint64) (r: Raft) =
    if req.From = NoNode || req.From = r.Id then
        { r with ReadStates = { Index = readIndex; RequestCtx = req.Entries[0].Data } :: r.ReadStates }
    else
        send
            { Pb.emptyMessage with
                Type = MsgReadIndexResp
                To = req.From
                Index = readIndex
                Entries = req.Entries }
            r

let private sendMsgReadIndexResponse (m: Message) (r: Raft) =
    match r.ReadOnly.Option with
    | ReadOnlySafe ->
        // Confirm leadership with a round of heartbeats; the leader acks its own right away.
        let ro = ReadOnly.addRequest r.RaftLog.Committed m r.ReadOnly
        let ro, _ = ReadOnly.recvAck r.Id m.Entries[0].Data ro
        bcastHeartbeatWithCtx m.Entries[0].Data { r with ReadOnly = ro }
    | ReadOnlyLeaseBased -> responseToReadIndexReq m r.RaftLog.Committed r

let private releasePendingReadIndexMessages (r: Raft) =
    if r.PendingReadIndexMessages.IsEmpty then
        // Nothing held back (the common case): nothing to check or release.
        r
    elif not (committedEntryInCurrentTerm r) then
        logError "pending MsgReadIndex should be released only after first commit in current term" r
    else
        let msgs = List.rev r.PendingReadIndexMessages
        msgs |> List.fold (fun r m -> sendMsgReadIndexResponse m r) { r with PendingReadIndexMessages = [] }

// ---------------------------------------------------------------------------------------------
// Stepping by role.

let private ok (r: Raft) = r, Ok()
let private dropped (r: Raft) = r, Error ErrProposalDropped

/// Decides whether a proposed conf change may enter the log; refused ones become empty entries.
let private admitConfChanges (m: Message) (r: Raft) : Raft * Entry[] =
    let ents = Array.copy m.Entries
    let mutable r = r
    for i in 0 .. ents.Length - 1 do
        match Codec.confChangeOfEntry ents[i] with
        | None -> ()
        | Some(Error err) -> Invariant.broken err
        | Some(Ok cc) ->
            let alreadyPending = r.PendingConfIndex > r.RaftLog.Applied
            let alreadyJoint = JointConfig.isJoint r.Prs.Config.Voters
            let wantsLeaveJoint = List.isEmpty (Pb.asV2 cc).Changes
            let refused =
                if alreadyPending then
                    sprintf "possible unapplied conf change at index %d (applied to %d)" r.PendingConfIndex r.RaftLog.Applied
                elif alreadyJoint && not wantsLeaveJoint then
                    "must transition out of joint config first"
                elif not alreadyJoint && wantsLeaveJoint then
                    "not in joint state; refusing empty conf change"
                else
                    ""
            if refused <> "" then
                r <-
                    info
                        (sprintf
                            "%x ignoring conf change %s at config %s: %s"
                            r.Id
                            (describeConfChangeI cc)
                            (TrackerConfig.toString r.Prs.Config)
                            refused)
                        r
                ents[i] <- { Term = 0UL; Index = 0UL; Type = EntryNormal; Data = [||] }
            else
                r <- { r with PendingConfIndex = lastIndex r + uint64 i + 1UL }
    r, ents

let private stepLeaderAppResp (m: Message) (pr: Progress) (r: Raft) =
    let pr = { pr with RecentActive = true }
    if m.Reject then
        let r =
            debug
                (sprintf
                    "%x received MsgAppResp(rejected, hint: (index %d, term %d)) from %x for index %d"
                    r.Id
                    m.RejectHint
                    m.LogTerm
                    m.From
                    m.Index)
                r
        // RejectHint is where the follower's log may still match the leader's, and LogTerm its
        // term there. When LogTerm is known, skip every index at which the leader's term is larger:
        // a probe there must fail too. This probes at most once per term in the leader's log.
        let nextProbeIdx, lines =
            if m.LogTerm > 0UL then RaftLog.findConflictByTerm m.RejectHint m.LogTerm r.RaftLog
            else m.RejectHint, []
        let r = addLines lines r
        match Progress.maybeDecrTo m.Index nextProbeIdx pr with
        | true, pr ->
            let r = debug (sprintf "%x decreased progress of %x to [%s]" r.Id m.From (Progress.toString pr)) r
            let pr = if pr.State = StateReplicate then Progress.becomeProbe pr else pr
            r |> setProgress m.From pr |> sendAppend m.From
        | false, pr -> setProgress m.From pr r
    else
        let oldPaused = Progress.isPaused pr
        match Progress.maybeUpdate m.Index pr with
        | false, pr -> setProgress m.From pr r
        | true, pr ->
            let r, pr =
                match pr.State with
                | StateProbe -> r, Progress.becomeReplicate pr
                | StateSnapshot when pr.Match >= pr.PendingSnapshot ->
                    let r =
                        debug
                            (sprintf
                                "%x recovered from needing snapshot, resumed sending replication messages to %x [%s]"
                                r.Id
                                m.From
                                (Progress.toString pr))
                            r
                    // Back to replicating via probing, which accounts for the snapshot.
                    r, pr |> Progress.becomeProbe |> Progress.becomeReplicate
                | StateReplicate -> r, { pr with Inflights = Inflights.freeLE m.Index pr.Inflights }
                | StateSnapshot -> r, pr
            let r = setProgress m.From pr r
            let r =
                match maybeCommit r with
                | r, true ->
                    // A commit in this term makes it safe to answer held-back reads.
                    r |> releasePendingReadIndexMessages |> bcastAppend
                | r, false when oldPaused ->
                    // The follower may have missed the commit index while paused.
                    sendAppend m.From r
                | r, false -> r
            // Send as much as flow control allows now, without empty appends.
            let rec drain r =
                match maybeSendAppend m.From false r with
                | r, true -> drain r
                | r, false -> r
            let r = drain r
            if m.From = r.LeadTransferee && (progress m.From r).Match = lastIndex r then
                let r = info (sprintf "%x sent MsgTimeoutNow to %x after received MsgAppResp" r.Id m.From) r
                sendTimeoutNow m.From r
            else
                r

let private stepLeader (m: Message) (r: Raft) : Raft * Result<unit, RaftError> =
    match m.Type with
    | MsgBeat -> ok (bcastHeartbeat r)
    | MsgCheckQuorum ->
        // The leader counts itself active (if it is still in the configuration).
        let r = updateProgress r.Id (fun pr -> { pr with RecentActive = true }) r
        let r =
            if not (ProgressTracker.quorumActive r.Prs) then
                let r = warn (sprintf "%x stepped down to follower since quorum is not active" r.Id) r
                becomeFollower r.Term NoNode r
            else
                r
        // Everyone else must prove activity again before the next check.
        let self = r.Id
        ok
            { r with
                Prs = ProgressTracker.mapProgress (fun id pr -> if id <> self then { pr with RecentActive = false } else pr) r.Prs }
    | MsgProp ->
        if m.Entries.Length = 0 then
            Invariant.broken (sprintf "%x stepped empty MsgProp" r.Id)
        if not (r.Prs.Progress.ContainsKey r.Id) then
            // Removed from the configuration while leading: drop new proposals.
            dropped r
        elif r.LeadTransferee <> NoNode then
            debug
                (sprintf "%x [term %d] transfer leadership to %x is in progress; dropping proposal" r.Id r.Term r.LeadTransferee)
                r
            |> dropped
        else
            let r, ents = admitConfChanges m r
            match appendEntry ents r with
            | r, false -> dropped r
            | r, true -> ok (bcastAppend r)
    | MsgReadIndex ->
        if ProgressTracker.isSingleton r.Prs then
            // Only the leader votes: answer right away.
            ok (responseToReadIndexReq m r.RaftLog.Committed r)
        elif not (committedEntryInCurrentTerm r) then
            // Hold the read until an entry of this term commits.
            ok { r with PendingReadIndexMessages = m :: r.PendingReadIndexMessages }
        else
            ok (sendMsgReadIndexResponse m r)
    | _ ->
        // Everything else needs the sender's progress.
        match Map.tryFind m.From r.Prs.Progress with
        | None -> ok (debug (sprintf "%x no progress available for %x" r.Id m.From) r)
        | Some pr ->
            match m.Type with
            | MsgAppResp -> ok (stepLeaderAppResp m pr r)
            | MsgHeartbeatResp ->
                let pr = { pr with RecentActive = true; ProbeSent = false }
                // Free one slot of a full window so that replication can make progress.
                let pr =
                    if pr.State = StateReplicate && pr.Inflights.Full then
                        { pr with Inflights = Inflights.freeFirstOne pr.Inflights }
                    else
                        pr
                let r = setProgress m.From pr r
                let r = if pr.Match < lastIndex r then sendAppend m.From r else r
                if r.ReadOnly.Option <> ReadOnlySafe || m.Context.Length = 0 then
                    ok r
                else
                    let ro, acks = ReadOnly.recvAck m.From m.Context r.ReadOnly
                    let r = { r with ReadOnly = ro }
                    let acks = defaultArg acks Map.empty
                    if JointConfig.voteResult acks r.Prs.Config.Voters <> VoteWon then
                        ok r
                    else
                        let ro, rss = ReadOnly.advance m r.ReadOnly
                        let r = { r with ReadOnly = ro }
                        ok (rss |> List.fold (fun r rs -> responseToReadIndexReq rs.Req rs.Index r) r)
            | MsgSnapStatus ->
                if pr.State <> StateSnapshot then
                    ok r
                else
                    let r, pr =
                        if not m.Reject then
                            let pr = Progress.becomeProbe pr
                            debug
                                (sprintf
                                    "%x snapshot succeeded, resumed sending replication messages to %x [%s]"
                                    r.Id
                                    m.From
                                    (Progress.toString pr))
                                r,
                            pr
                        else
                            // Clear the pending snapshot first, or probing would start past a
                            // snapshot that never arrived.
                            let pr = Progress.becomeProbe { pr with PendingSnapshot = 0UL }
                            debug
                                (sprintf
                                    "%x snapshot failed, resumed sending replication messages to %x [%s]"
                                    r.Id
                                    m.From
                                    (Progress.toString pr))
                                r,
                            pr
                    // Wait for the follower's MsgAppResp (or a heartbeat interval) before the next
                    // append.
                    ok (setProgress m.From { pr with ProbeSent = true } r)
            | MsgUnreachable ->
                // In optimistic replication an unreachable peer probably lost an append.
                let pr = if pr.State = StateReplicate then Progress.becomeProbe pr else pr
                let r = setProgress m.From pr r
                ok (debug (sprintf "%x failed to send message to %x because it is unreachable [%s]" r.Id m.From (Progress.toString pr)) r)
            | MsgTransferLeader ->
                if pr.IsLearner then
                    ok (debug (sprintf "%x is learner. Ignored transferring leadership" r.Id) r)
                else
                    let leadTransferee = m.From
                    let lastLeadTransferee = r.LeadTransferee
                    if lastLeadTransferee <> NoNode && lastLeadTransferee = leadTransferee then
                        info
                            (sprintf
                                "%x [term %d] transfer leadership to %x is in progress, ignores request to same node %x"
                                r.Id
                                r.Term
                                leadTransferee
                                leadTransferee)
                            r
                        |> ok
                    else
                        let r =
                            if lastLeadTransferee <> NoNode then
                                r
                                |> abortLeaderTransfer
                                |> info (sprintf "%x [term %d] abort previous transferring leadership to %x" r.Id r.Term lastLeadTransferee)
                            else
                                r
                        if leadTransferee = r.Id then
                            ok (debug (sprintf "%x is already leader. Ignored transferring leadership to self" r.Id) r)
                        else
                            let r = info (sprintf "%x [term %d] starts to transfer leadership to %x" r.Id r.Term leadTransferee) r
                            // The transfer must finish within an election timeout.
                            let r = { r with ElectionElapsed = 0; LeadTransferee = leadTransferee }
                            if pr.Match = lastIndex r then
                                r
                                |> sendTimeoutNow leadTransferee
                                |> info (
                                    sprintf
                                        "%x sends MsgTimeoutNow to %x immediately as %x already has up-to-date log"
                                        r.Id
                                        leadTransferee
                                        leadTransferee
                                )
                                |> ok
                            else
                                ok (sendAppend leadTransferee r)
            | _ -> ok r

/// Shared by StateCandidate and StatePreCandidate, which differ in the vote responses they count.
let private stepCandidate (m: Message) (r: Raft) : Raft * Result<unit, RaftError> =
    // A candidate may still receive pre-vote responses from its pre-candidacy; ignore them.
    let myVoteRespType = if r.State = StatePreCandidate then MsgPreVoteResp else MsgVoteResp
    match m.Type with
    | MsgProp -> dropped (info (sprintf "%x no leader at term %d; dropping proposal" r.Id r.Term) r)
    | MsgApp -> r |> becomeFollower m.Term m.From |> handleAppendEntries m |> ok // m.Term = r.Term
    | MsgHeartbeat -> r |> becomeFollower m.Term m.From |> handleHeartbeat m |> ok
    | MsgSnap -> r |> becomeFollower m.Term m.From |> handleSnapshot m |> ok
    | t when t = myVoteRespType ->
        let r, gr, rj, res = poll m.From m.Type (not m.Reject) r
        let r =
            info (sprintf "%x has received %d %s votes and %d vote rejections" r.Id gr (Pb.messageTypeName m.Type) rj) r
        match res with
        | VoteWon ->
            if r.State = StatePreCandidate then ok (campaign CampaignElection r)
            else r |> becomeLeader |> bcastAppend |> ok
        | VoteLost ->
            // A MsgPreVoteResp carries the pre-candidate's future term; keep ours.
            ok (becomeFollower r.Term NoNode r)
        | VotePending -> ok r
    | MsgTimeoutNow ->
        ok (debug (sprintf "%x [term %d state %s] ignored MsgTimeoutNow from %x" r.Id r.Term (Pb.stateTypeName r.State) m.From) r)
    | _ -> ok r

let private stepFollower (m: Message) (r: Raft) : Raft * Result<unit, RaftError> =
    match m.Type with
    | MsgProp ->
        if r.Lead = NoNode then
            dropped (info (sprintf "%x no leader at term %d; dropping proposal" r.Id r.Term) r)
        elif r.Settings.DisableProposalForwarding then
            dropped (info (sprintf "%x not forwarding to leader %x at term %d; dropping proposal" r.Id r.Lead r.Term) r)
        else
            ok (send { m with To = r.Lead } r)
    | MsgApp -> { r with ElectionElapsed = 0; Lead = m.From } |> handleAppendEntries m |> ok
    | MsgHeartbeat -> { r with ElectionElapsed = 0; Lead = m.From } |> handleHeartbeat m |> ok
    | MsgSnap -> { r with ElectionElapsed = 0; Lead = m.From } |> handleSnapshot m |> ok
    | MsgTransferLeader ->
        if r.Lead = NoNode then
            ok (info (sprintf "%x no leader at term %d; dropping leader transfer msg" r.Id r.Term) r)
        else
            ok (send { m with To = r.Lead } r)
    | MsgTimeoutNow ->
        let r =
            info
                (sprintf
                    "%x [term %d] received MsgTimeoutNow from %x and starts an election to get leadership."
                    r.Id
                    r.Term
                    m.From)
                r
        // Transfers never pre-vote: the leader asked for this election.
        ok (hup CampaignTransfer r)
    | MsgReadIndex ->
        if r.Lead = NoNode then
            ok (info (sprintf "%x no leader at term %d; dropping index reading msg" r.Id r.Term) r)
        else
            ok (send { m with To = r.Lead } r)
    | MsgReadIndexResp ->
        if m.Entries.Length <> 1 then
            ok (
                logError
                    (sprintf "%x invalid format of MsgReadIndexResp from %x, entries count: %d" r.Id m.From m.Entries.Length)
                    r
            )
        else
            ok { r with ReadStates = { Index = m.Index; RequestCtx = m.Entries[0].Data } :: r.ReadStates }
    | _ -> ok r

/// Handles a vote request at the node's term (after the term checks of `step`).
let private handleVoteRequest (m: Message) (r: Raft) =
    // A vote can be granted when it repeats the one already cast, when there is neither a vote
    // nor a leader in this term, or when it is a pre-vote for a future term; and only to a
    // candidate whose log is at least as up to date. Learners vote too: a learner may have been
    // promoted without knowing it yet.
    let canVote =
        r.Vote = m.From
        || (r.Vote = NoNode && r.Lead = NoNode)
        || (m.Type = MsgPreVote && m.Term > r.Term)
    if canVote && RaftLog.isUpToDate m.Index m.LogTerm r.RaftLog then
        let r =
            info
                (sprintf
                    "%x [logterm: %d, index: %d, vote: %x] cast %s for %x [logterm: %d, index: %d] at term %d"
                    r.Id
                    (lastTerm r)
                    (lastIndex r)
                    r.Vote
                    (Pb.messageTypeName m.Type)
                    m.From
                    m.LogTerm
                    m.Index
                    r.Term)
                r
        // The response carries the message's term, not ours: a pre-candidate must not ignore it.
        let r = send { Pb.emptyMessage with To = m.From; Term = m.Term; Type = Pb.voteRespMsgType m.Type } r
        if m.Type = MsgVote then
            // Only real votes are recorded.
            { r with ElectionElapsed = 0; Vote = m.From }
        else
            r
    else
        let r =
            info
                (sprintf
                    "%x [logterm: %d, index: %d, vote: %x] rejected %s from %x [logterm: %d, index: %d] at term %d"
                    r.Id
                    (lastTerm r)
                    (lastIndex r)
                    r.Vote
                    (Pb.messageTypeName m.Type)
                    m.From
                    m.LogTerm
                    m.Index
                    r.Term)
                r
        send
            { Pb.emptyMessage with
                To = m.From
                Term = r.Term
                Type = Pb.voteRespMsgType m.Type
                Reject = true }
            r

/// Advances the state machine by one message (etcd's raft.Step).
let step (m: Message) (r: Raft) : Raft * Result<unit, RaftError> =
    // First the message's term, which may turn this node into a follower or end the step.
    let r, proceed =
        if m.Term = 0UL then
            // A local message.
            r, true
        elif m.Term > r.Term then
            let inLeaseIgnored =
                if m.Type = MsgVote || m.Type = MsgPreVote then
                    let force = m.Context.AsSpan().SequenceEqual(ReadOnlySpan campaignTransferContext)
                    let inLease =
                        r.Settings.CheckQuorum && r.Lead <> NoNode && r.ElectionElapsed < r.Settings.ElectionTimeout
                    // Within the minimum election timeout of hearing from a leader, neither raise
                    // the term nor vote.
                    not force && inLease
                else
                    false
            if inLeaseIgnored then
                info
                    (sprintf
                        "%x [logterm: %d, index: %d, vote: %x] ignored %s from %x [logterm: %d, index: %d] at term %d: lease is not expired (remaining ticks: %d)"
                        r.Id
                        (lastTerm r)
                        (lastIndex r)
                        r.Vote
                        (Pb.messageTypeName m.Type)
                        m.From
                        m.LogTerm
                        m.Index
                        r.Term
                        (r.Settings.ElectionTimeout - r.ElectionElapsed))
                    r,
                false
            elif m.Type = MsgPreVote || (m.Type = MsgPreVoteResp && not m.Reject) then
                // Pre-votes never change the term; a granted pre-vote response carries the term
                // this node will campaign for once it has a quorum.
                r, true
            else
                let r =
                    info
                        (sprintf
                            "%x [term: %d] received a %s message with higher term from %x [term: %d]"
                            r.Id
                            r.Term
                            (Pb.messageTypeName m.Type)
                            m.From
                            m.Term)
                        r
                let lead = if m.Type = MsgApp || m.Type = MsgHeartbeat || m.Type = MsgSnap then m.From else NoNode
                becomeFollower m.Term lead r, true
        elif m.Term < r.Term then
            if (r.Settings.CheckQuorum || r.Settings.PreVote) && (m.Type = MsgHeartbeat || m.Type = MsgApp) then
                // A leader of a lower term: perhaps this node's term ran ahead while it was
                // partitioned. Answer so the stale leader learns the term (with CheckQuorum or
                // PreVote, vote requests would not raise it).
                send { Pb.emptyMessage with To = m.From; Type = MsgAppResp } r, false
            elif m.Type = MsgPreVote then
                // Rejecting (rather than ignoring) keeps a cluster that just enabled PreVote from
                // deadlocking on a candidate with a higher term and a shorter log.
                let r =
                    info
                        (sprintf
                            "%x [logterm: %d, index: %d, vote: %x] rejected %s from %x [logterm: %d, index: %d] at term %d"
                            r.Id
                            (lastTerm r)
                            (lastIndex r)
                            r.Vote
                            (Pb.messageTypeName m.Type)
                            m.From
                            m.LogTerm
                            m.Index
                            r.Term)
                        r
                send
                    { Pb.emptyMessage with
                        To = m.From
                        Term = r.Term
                        Type = MsgPreVoteResp
                        Reject = true }
                    r,
                false
            else
                info
                    (sprintf
                        "%x [term: %d] ignored a %s message with lower term from %x [term: %d]"
                        r.Id
                        r.Term
                        (Pb.messageTypeName m.Type)
                        m.From
                        m.Term)
                    r,
                false
        else
            r, true
    if not proceed then
        ok r
    else
        match m.Type with
        | MsgHup -> ok (hup (if r.Settings.PreVote then CampaignPreElection else CampaignElection) r)
        | MsgVote
        | MsgPreVote -> ok (handleVoteRequest m r)
        | _ ->
            match r.State with
            | StateFollower -> stepFollower m r
            | StateCandidate
            | StatePreCandidate -> stepCandidate m r
            | StateLeader -> stepLeader m r

// ---------------------------------------------------------------------------------------------
// Time.

/// Followers and candidates: campaign once the randomized election timeout has passed.
let private tickElection (r: Raft) =
    let r = { r with ElectionElapsed = r.ElectionElapsed + 1 }
    if promotable r && pastElectionTimeout r then
        fst (step { Pb.emptyMessage with From = r.Id; Type = MsgHup } { r with ElectionElapsed = 0 })
    else
        r

/// Leaders: heartbeat every heartbeat timeout; check the quorum and give up a stalled transfer
/// every election timeout.
let private tickHeartbeat (r: Raft) =
    let r =
        { r with
            HeartbeatElapsed = r.HeartbeatElapsed + 1
            ElectionElapsed = r.ElectionElapsed + 1 }
    let r =
        if r.ElectionElapsed >= r.Settings.ElectionTimeout then
            let r = { r with ElectionElapsed = 0 }
            let r =
                if r.Settings.CheckQuorum then
                    fst (step { Pb.emptyMessage with From = r.Id; Type = MsgCheckQuorum } r)
                else
                    r
            // A transfer that did not finish within an election timeout is abandoned.
            if r.State = StateLeader && r.LeadTransferee <> NoNode then abortLeaderTransfer r else r
        else
            r
    if r.State <> StateLeader then
        r
    elif r.HeartbeatElapsed >= r.Settings.HeartbeatTimeout then
        fst (step { Pb.emptyMessage with From = r.Id; Type = MsgBeat } { r with HeartbeatElapsed = 0 })
    else
        r

/// Advances the logical clock by one tick.
let tick (r: Raft) =
    match r.State with
    | StateLeader -> tickHeartbeat r
    | StateFollower
    | StateCandidate
    | StatePreCandidate -> tickElection r

// ---------------------------------------------------------------------------------------------
// Ready handling.

/// The host handled a Ready: committed entries (or the snapshot) are applied and the entries
/// and snapshot are stable. A leader whose joint configuration is now applied and marked for
/// auto-leave proposes leaving it.
let advance (rd: Ready) (r: Raft) =
    let r = reduceUncommittedSize rd.CommittedEntries r
    let newApplied =
        if rd.CommittedEntries.Length > 0 then rd.CommittedEntries[rd.CommittedEntries.Length - 1].Index
        else rd.Snapshot.Metadata.Index
    let r =
        if newApplied > 0UL then
            let oldApplied = r.RaftLog.Applied
            let r = withLog (RaftLog.appliedTo newApplied r.RaftLog) r
            if r.Prs.Config.AutoLeave
               && oldApplied <= r.PendingConfIndex
               && newApplied >= r.PendingConfIndex
               && r.State = StateLeader then
                // Empty data unmarshals to the empty ConfChangeV2 and is never refused by size.
                let ent = { Term = 0UL; Index = 0UL; Type = EntryConfChangeV2; Data = [||] }
                let r, accepted = appendEntry [| ent |] r
                if not accepted then
                    Invariant.broken "refused un-refusable auto-leaving ConfChangeV2"
                let r = { r with PendingConfIndex = lastIndex r }
                info
                    (sprintf "initiating automatic transition out of joint configuration %s" (TrackerConfig.toString r.Prs.Config))
                    r
            else
                r
        else
            r
    let r =
        if rd.Entries.Length > 0 then
            let e = rd.Entries[rd.Entries.Length - 1]
            withLog (RaftLog.stableTo e.Index e.Term r.RaftLog) r
        else
            r
    if not (Pb.isEmptySnap rd.Snapshot) then
        withLog (RaftLog.stableSnapTo rd.Snapshot.Metadata.Index r.RaftLog) r
    else
        r

// ---------------------------------------------------------------------------------------------
// Creation.

let private loadState (hs: HardState) (r: Raft) =
    if hs.Commit < r.RaftLog.Committed || hs.Commit > lastIndex r then
        Invariant.broken (
            sprintf "%x state.commit %d is out of range [%d, %d]" r.Id hs.Commit r.RaftLog.Committed (lastIndex r)
        )
    { r with
        RaftLog = { r.RaftLog with Committed = hs.Commit }
        Term = hs.Term
        Vote = hs.Vote }

/// A node over the storage's state (etcd's newRaft). The config must be valid (see
/// Config.validate); an invalid one is a broken invariant.
let create (config: Config) (storage: MemoryStorage) : Raft =
    let c =
        match Config.validate config with
        | Ok c -> c
        | Error e -> Invariant.broken e
    let raftlog = RaftLog.newLogWithSize storage c.MaxCommittedSizePerReady
    let hs, cs = MemoryStorage.initialState storage
    let r =
        { Id = c.ID
          Settings =
            { ElectionTimeout = c.ElectionTick
              HeartbeatTimeout = c.HeartbeatTick
              MaxMsgSize = c.MaxSizePerMsg
              MaxUncommittedSize = c.MaxUncommittedEntriesSize
              CheckQuorum = c.CheckQuorum
              PreVote = c.PreVote
              DisableProposalForwarding = c.DisableProposalForwarding }
          Term = 0UL
          Vote = NoNode
          ReadStates = []
          RaftLog = raftlog
          Prs = ProgressTracker.make c.MaxInflightMsgs
          State = StateFollower
          IsLearner = false
          Msgs = []
          Lead = NoNode
          LeadTransferee = NoNode
          PendingConfIndex = 0UL
          UncommittedSize = 0UL
          ReadOnly = ReadOnly.create c.ReadOnlyOption
          ElectionElapsed = 0
          HeartbeatElapsed = 0
          RandomizedElectionTimeout = 0
          Rand = defaultArg c.Seed c.ID
          PendingReadIndexMessages = []
          Logs = [] }
    let cfg, prs = restoreConfig cs r
    let r, cs2 = switchToConfig cfg prs r
    assertConfStatesEquivalent cs cs2
    let r = if not (Pb.isEmptyHardState hs) then loadState hs r else r
    let r = if c.Applied > 0UL then withLog (RaftLog.appliedTo c.Applied r.RaftLog) r else r
    let r = becomeFollower r.Term NoNode r
    let peers = ProgressTracker.voterNodes r.Prs |> List.map (sprintf "%x") |> String.concat ","
    info
        (sprintf
            "newRaft %x [peers: [%s], term: %d, commit: %d, applied: %d, lastindex: %d, lastterm: %d]"
            r.Id
            peers
            r.Term
            r.RaftLog.Committed
            r.RaftLog.Applied
            (lastIndex r)
            (lastTerm r))
        r
