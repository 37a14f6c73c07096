/// etcd raft's state machine (raft.go) over the `Raft` node value: elections (with PreVote and
/// CheckQuorum), replication with probe/replicate/snapshot progress, commitment by quorum,
/// ReadIndex, leadership transfer, learners and configuration changes. Every public function
/// returns the new node; what etcd would send, log or hand out accumulates in the node until the
/// RawNode's Ready drains it. The work itself is done by `InPlace` on a private copy of the node
/// (see the `Raft` type for why).
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

/// Go's `%v` of a []byte: `[1 2 3]`.
let private goBytes (b: byte[]) = Describe.uint64s (b |> Seq.map uint64)

let private confChangeTypeName = Pb.confChangeTypeName

let private transitionName =
    function
    | ConfChangeTransitionAuto -> "ConfChangeTransitionAuto"
    | ConfChangeTransitionJointImplicit -> "ConfChangeTransitionJointImplicit"
    | ConfChangeTransitionJointExplicit -> "ConfChangeTransitionJointExplicit"

/// Go's `%v` of a ConfChangeI holding a struct value (String() is on the pointer, so it is not
/// used): the fields in raftpb's declaration order, no names. raftpb.ConfChange declares ID last
/// (Type, NodeID, Context, ID), whatever its protobuf field numbers; enums print their names,
/// []byte prints as `[1 2 3]` (nil and empty alike as `[]`).
let describeConfChangeI (cc: ConfChangeI) =
    match cc with
    | V1 c -> sprintf "{%s %d %s %d}" (confChangeTypeName c.Type) c.NodeID (goBytes c.Context) c.ID
    | V2 c ->
        let changes =
            c.Changes
            |> List.map (fun s -> sprintf "{%s %d}" (confChangeTypeName s.Type) s.NodeID)
            |> String.concat " "
        sprintf "{%s [%s] %s}" (transitionName c.Transition) changes (goBytes c.Context)

/// Go's `%v` of a ConfState value: `{[1 2] [] [] [] false}`, fields in declaration order.
let private describeConfStateValue (cs: ConfState) =
    sprintf
        "{%s %s %s %s %b}"
        (Describe.uint64s cs.Voters)
        (Describe.uint64s cs.Learners)
        (Describe.uint64s cs.VotersOutgoing)
        (Describe.uint64s cs.LearnersNext)
        cs.AutoLeave

/// Go's `%+v` of a ConfState value: the same with each field's name,
/// `{Voters:[1 2] Learners:[] VotersOutgoing:[] LearnersNext:[] AutoLeave:false}`.
let private describeConfStateFields (cs: ConfState) =
    sprintf
        "{Voters:%s Learners:%s VotersOutgoing:%s LearnersNext:%s AutoLeave:%b}"
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
    let k = r.ProgressIndex id
    if k >= 0 then r.ProgressAt k else Invariant.broken (sprintf "%x has no progress for %x" r.Id id)

/// Whether the node can become leader: it is a voter and has no snapshot pending.
let promotable (r: Raft) =
    let k = r.ProgressIndex r.Id
    k >= 0 && not (r.ProgressAt k).IsLearner && not (RaftLog.hasPendingSnapshot r.RaftLog)

/// Whether the node has committed an entry of its current term.
let committedEntryInCurrentTerm (r: Raft) =
    RaftLog.zeroTermOnErrCompacted (RaftLog.term r.RaftLog.Committed r.RaftLog) = r.Term

let pastElectionTimeout (r: Raft) = r.ElectionElapsed >= r.RandomizedElectionTimeout

// ---------------------------------------------------------------------------------------------
// Pure helpers.

/// splitmix64 over the state held in the node: the next value and the next state.
let private nextRandom (state: uint64) =
    let s = state + 0x9E3779B97F4A7C15UL
    let mutable z = s
    z <- (z ^^^ (z >>> 30)) * 0xBF58476D1CE4E5B9UL
    z <- (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
    struct (z ^^^ (z >>> 31), s)

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

let private payloadSize (ents: Entry[]) =
    let mutable s = 0UL
    for e in ents do
        s <- s + uint64 (Pb.payloadSize e)
    s

let private numOfPendingConf (ents: EntrySeq) =
    let mutable n = 0
    for e in ents.AsSpan() do
        if e.Type = EntryConfChange || e.Type = EntryConfChangeV2 then n <- n + 1
    n

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
    | Error err -> Invariant.broken (sprintf "unable to restore config %s: %s" (describeConfStateFields cs) err)

let private okUnit: Result<unit, RaftError> = Ok()
let private dropped: Result<unit, RaftError> = Error ErrProposalDropped

/// The state machine's operations on a working copy of the node, which each of them updates in
/// place. Only the public functions at the end of this module (and RawNode, Bootstrap) hand them
/// a node, always one they just copied or created.
module internal InPlace =

    // -----------------------------------------------------------------------------------------
    // Log lines, in etcd's words.

    let private logAt (level: LogLevel) (text: string) (r: Raft) =
        r.Logs <- { Level = level; Text = text } :: r.Logs

    let private debug text r = logAt LogLevel.Debug text r
    let private info text r = logAt LogLevel.Info text r
    let private warn text r = logAt LogLevel.Warn text r
    let private logError text r = logAt LogLevel.Error text r

    /// Adds lines returned by a log operation, oldest first.
    let private addLines (lines: LogLine list) (r: Raft) =
        match lines with
        | [] -> ()
        | _ -> r.Logs <- List.rev lines @ r.Logs

    let private setProgress (id: uint64) (pr: Progress) (r: Raft) =
        let k = r.ProgressIndex id
        if k >= 0 then r.SetProgressAt(k, pr)
        else r.Prs <- ProgressTracker.setProgress id pr r.Prs

    /// Applies `f` to the progress of `id`; nothing when `id` is not tracked.
    let private updateProgress (id: uint64) (f: Progress -> Progress) (r: Raft) =
        let k = r.ProgressIndex id
        if k >= 0 then r.SetProgressAt(k, f (r.ProgressAt k))

    let private resetRandomizedElectionTimeout (r: Raft) =
        let struct (v, s) = nextRandom r.Rand
        let et = r.Settings.ElectionTimeout
        r.RandomizedElectionTimeout <- et + int (v % uint64 et)
        r.Rand <- s

    // -----------------------------------------------------------------------------------------
    // Sending.

    /// Queues a message for the next Ready.
    let private send (m: Message) (r: Raft) = r.Enqueue(outgoing m r)

    /// Sends an append (or a snapshot, when the entries are compacted) to `to` unless its
    /// progress is paused; with sendIfEmpty false, an append without entries is not sent.
    /// Returns whether a message was sent, and the entries array of the last append built:
    /// `shared`, when the append carries the same entries (a broadcast sends the same run to
    /// every follower that is up to date, and a message is a value, so they can share it).
    let rec private maybeSendAppendSharing (``to``: uint64) (sendIfEmpty: bool) (shared: Entry[]) (r: Raft)
        : struct (bool * Entry[]) =
        let pr = progress ``to`` r
        if Progress.isPaused pr then
            struct (false, shared)
        else
            // The usual case first: what there is to send is all unstable, and its run is copied
            // straight into the message (RaftLog.entries's answer without building it).
            let l = r.RaftLog
            match RaftLog.unstableRunFrom pr.Next r.Settings.MaxMsgSize l with
            | ValueSome(struct (start, count)) ->
                match RaftLog.term (pr.Next - 1UL) l with
                | Ok term ->
                    let run = l.Unstable.Entries.AsSpan().Slice(start, count)
                    // The same first entry (one object per index) and count: the same run.
                    let entries =
                        if count = shared.Length && obj.ReferenceEquals(run[0], shared[0]) then shared
                        else run.ToArray()
                    sendEntries ``to`` pr term entries r
                    struct (true, entries)
                | Error _ -> maybeSendAppendGeneral ``to`` sendIfEmpty shared pr r
            | ValueNone -> maybeSendAppendGeneral ``to`` sendIfEmpty shared pr r

    /// Queues an append of `entries` after (pr.Next-1, term) to `to` and records it in the progress.
    and private sendEntries (``to``: uint64) (pr: Progress) (term: uint64) (entries: Entry[]) (r: Raft) =
        // Built as `outgoing` would send it (From and Term filled in), saving a copy.
        let m =
            { Pb.emptyMessage with
                Type = MsgApp
                To = ``to``
                From = r.Id
                Term = r.Term
                Index = pr.Next - 1UL
                LogTerm = term
                Entries = entries
                Commit = r.RaftLog.Committed }
        if entries.Length <> 0 then
            match pr.State with
            | StateReplicate ->
                // Optimistically move Next past what is now in flight.
                let last = entries[entries.Length - 1].Index
                // Progress.optimisticUpdate and the new inflight in one copy.
                setProgress ``to`` { pr with Next = last + 1UL; Inflights = Inflights.add last pr.Inflights } r
            | StateProbe -> setProgress ``to`` { pr with ProbeSent = true } r
            | StateSnapshot ->
                Invariant.broken (sprintf "%x is sending append in unhandled state %s" r.Id (Progress.stateName pr.State))
        r.Enqueue m

    /// maybeSendAppendSharing in general: entries from storage, or a snapshot.
    and private maybeSendAppendGeneral (``to``: uint64) (sendIfEmpty: bool) (shared: Entry[]) (pr: Progress) (r: Raft)
        : struct (bool * Entry[]) =
        let term = RaftLog.term (pr.Next - 1UL) r.RaftLog
        let ents = RaftLog.entries pr.Next r.Settings.MaxMsgSize r.RaftLog
        let noEntries =
            match ents with
            | Ok e -> e.IsEmpty
            | Error _ -> true
        if noEntries && not sendIfEmpty then
            struct (false, shared)
        else
            match term, ents with
            | Ok term, Ok ents ->
                // The same first entry (one object per index) and count: the same run.
                let entries =
                    if ents.Count = shared.Length && ents.Count > 0 && obj.ReferenceEquals(ents[0], shared[0]) then shared
                    else EntrySeq.toArray ents
                sendEntries ``to`` pr term entries r
                struct (true, entries)
            | _ ->
                // The term or the entries are compacted away: send the snapshot instead.
                if not pr.RecentActive then
                    debug (sprintf "ignore sending snapshot to %x since it is not recently active" ``to``) r
                    struct (false, shared)
                else
                    let snapshot = RaftLog.snapshot r.RaftLog
                    if Pb.isEmptySnap snapshot then
                        Invariant.broken "need non-empty snapshot"
                    let sindex, sterm = snapshot.Metadata.Index, snapshot.Metadata.Term
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
                    debug (sprintf "%x paused sending replication messages to %x [%s]" r.Id ``to`` (Progress.toString pr)) r
                    setProgress ``to`` pr r
                    send
                        { Pb.emptyMessage with
                            Type = MsgSnap
                            To = ``to``
                            Snapshot = snapshot }
                        r
                    struct (true, shared)

    /// maybeSendAppendSharing for one message: returns whether it was sent.
    and private maybeSendAppend (``to``: uint64) (sendIfEmpty: bool) (r: Raft) : bool =
        let struct (sent, _) = maybeSendAppendSharing ``to`` sendIfEmpty [||] r
        sent

    /// Sends an append with new entries (if any) and the commit index to `to`.
    let private sendAppend (``to``: uint64) (r: Raft) = maybeSendAppend ``to`` true r |> ignore

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

    /// Visits every tracked peer but this node, in id order, as the progress map was at the start.
    let private forEachPeer (f: uint64 -> Raft -> unit) (r: Raft) =
        for id in r.ProgressIds do
            if id <> r.Id then f id r

    /// Sends appends to every peer that is not up to date (forEachPeer without a closure).
    let private bcastAppend (r: Raft) =
        let mutable shared = [||]
        for id in r.ProgressIds do
            if id <> r.Id then
                let struct (_, entries) = maybeSendAppendSharing id true shared r
                shared <- entries

    let private bcastHeartbeatWithCtx (ctx: byte[]) (r: Raft) =
        forEachPeer (fun id r -> sendHeartbeat id ctx r) r

    /// Sends heartbeats to every peer, carrying the context of the newest pending read request.
    let private bcastHeartbeat (r: Raft) =
        match ReadOnly.lastPendingRequestCtx r.ReadOnly with
        | "" -> bcastHeartbeatWithCtx [||] r
        | ctx -> bcastHeartbeatWithCtx (Text.Encoding.Latin1.GetBytes ctx) r

    let private sendTimeoutNow (``to``: uint64) (r: Raft) =
        send { Pb.emptyMessage with Type = MsgTimeoutNow; To = ``to`` } r

    let private abortLeaderTransfer (r: Raft) = r.LeadTransferee <- NoNode

    // -----------------------------------------------------------------------------------------
    // Commitment, terms and roles.

    /// What each voter has acknowledged (its Match), for the quorum: a struct, so that asking
    /// for the committed index allocates nothing.
    [<Struct>]
    type private Matches(r: Raft) =
        interface IAckedIndexer with
            member _.Acked id =
                let k = r.ProgressIndex id
                if k >= 0 then ValueSome (r.ProgressAt k).Match else ValueNone

    /// Advances the commit index to what a quorum acknowledged; false when it did not move.
    let private maybeCommit (r: Raft) : bool =
        // RaftLog.maybeCommit's test, without its option.
        // ProgressTracker.committed over the node's progress arrays.
        let mci = JointConfig.committedIndexWith (Matches r) r.TrackerConfig.Voters
        let l = r.RaftLog
        if mci > l.Committed && RaftLog.zeroTermOnErrCompacted (RaftLog.term mci l) = r.Term then
            r.RaftLog <- RaftLog.commitTo mci l
            true
        else
            false

    /// Resets the volatile state for `term`: votes, timers, transfer, progress of every peer.
    let private reset (term: uint64) (r: Raft) =
        if r.Term <> term then
            r.Term <- term
            r.Vote <- NoNode
        r.Lead <- NoNode
        r.ElectionElapsed <- 0
        r.HeartbeatElapsed <- 0
        resetRandomizedElectionTimeout r
        abortLeaderTransfer r
        let li = lastIndex r
        let maxInflight = r.Prs.MaxInflight
        let self = r.Id
        r.Prs <-
            r.Prs
            |> ProgressTracker.resetVotes
            |> ProgressTracker.mapProgress (fun id pr ->
                let fresh = Progress.create maxInflight (li + 1UL) pr.IsLearner
                if id = self then { fresh with Match = li } else fresh)
        r.PendingConfIndex <- 0UL
        r.UncommittedSize <- 0UL
        r.ReadOnly <- ReadOnly.create r.ReadOnly.Option

    /// The uncommitted size with the proposed entries added, or ValueNone when they would push it
    /// over the limit. An empty tail accepts any size, and empty payloads are always accepted.
    let private increaseUncommittedSize (ents: Entry[]) (r: Raft) : uint64 voption =
        let s = payloadSize ents
        if r.UncommittedSize > 0UL && s > 0UL && r.UncommittedSize + s > r.Settings.MaxUncommittedSize then
            ValueNone
        else
            ValueSome(r.UncommittedSize + s)

    /// Accounts for newly committed entries; saturates at zero (the size may be underestimated).
    let private reduceUncommittedSize (ents: Entry[]) (r: Raft) =
        // Followers do not track the size.
        if r.UncommittedSize <> 0UL then
            let s = payloadSize ents
            r.UncommittedSize <- if s > r.UncommittedSize then 0UL else r.UncommittedSize - s

    /// Appends entries that already carry the leader's term and their indexes (in an array no one
    /// else holds) to the leader's log; false when the uncommitted size limit drops them.
    let private appendStamped (es: Entry[]) (r: Raft) : bool =
        match increaseUncommittedSize es r with
        | ValueNone ->
            debug
                (sprintf "%x appending new entries to log would exceed uncommitted entry size limit; dropping proposal" r.Id)
                r
            false
        | ValueSome size ->
            let struct (l, lines) = RaftLog.appendArrayV es r.RaftLog
            let li = RaftLog.lastIndex l
            r.UncommittedSize <- size
            r.RaftLog <- l
            let k = r.ProgressIndex r.Id
            if k >= 0 then
                let struct (_, pr) = Progress.maybeUpdateV li (r.ProgressAt k)
                r.SetProgressAt(k, pr)
            addLines lines r
            // The caller broadcasts whether or not this commits.
            maybeCommit r |> ignore
            true

    /// Appends entries of the current term to the leader's log; false when the uncommitted size
    /// limit drops them.
    let private appendEntry (es: Entry[]) (r: Raft) : bool =
        let li = lastIndex r
        let term = r.Term
        let stamped = Array.zeroCreate es.Length
        for i in 0 .. es.Length - 1 do
            stamped[i] <- { es[i] with Term = term; Index = li + 1UL + uint64 i }
        appendStamped stamped r

    let becomeFollower (term: uint64) (lead: uint64) (r: Raft) =
        reset term r
        r.Lead <- lead
        r.State <- StateFollower
        info (sprintf "%x became follower at term %d" r.Id r.Term) r

    let becomeCandidate (r: Raft) =
        if r.State = StateLeader then
            Invariant.broken "invalid transition [leader -> candidate]"
        reset (r.Term + 1UL) r
        r.Vote <- r.Id
        r.State <- StateCandidate
        info (sprintf "%x became candidate at term %d" r.Id r.Term) r

    let becomePreCandidate (r: Raft) =
        if r.State = StateLeader then
            Invariant.broken "invalid transition [leader -> pre-candidate]"
        // Term and vote stay: a pre-candidate only asks whether it could win.
        r.Prs <- ProgressTracker.resetVotes r.Prs
        r.Lead <- NoNode
        r.State <- StatePreCandidate
        info (sprintf "%x became pre-candidate at term %d" r.Id r.Term) r

    let becomeLeader (r: Raft) =
        if r.State = StateFollower then
            Invariant.broken "invalid transition [follower -> leader]"
        reset r.Term r
        r.Lead <- r.Id
        r.State <- StateLeader
        // The leader trivially replicates to itself.
        updateProgress r.Id Progress.becomeReplicate r
        // Any entry in the log may be an unapplied conf change; refuse new ones until all is applied.
        r.PendingConfIndex <- lastIndex r
        let emptyEnt = { Term = 0UL; Index = 0UL; Type = EntryNormal; Data = [||] }
        if not (appendEntry [| emptyEnt |] r) then
            Invariant.broken "empty entry was dropped"
        // The empty entry does not count towards the uncommitted quota (it has no payload anyway).
        reduceUncommittedSize [| emptyEnt |] r
        info (sprintf "%x became leader at term %d" r.Id r.Term) r

    /// Records a vote and tallies the election: granted, rejected, outcome.
    let private poll (id: uint64) (t: MessageType) (v: bool) (r: Raft) =
        if v then info (sprintf "%x received %s from %x at term %d" r.Id (Pb.messageTypeName t) id r.Term) r
        else info (sprintf "%x received %s rejection from %x at term %d" r.Id (Pb.messageTypeName t) id r.Term) r
        r.Prs <- ProgressTracker.recordVote id v r.Prs
        ProgressTracker.tallyVotes r.Prs

    /// Becomes (pre-)candidate and asks every voter for its vote.
    let rec private campaign (t: CampaignType) (r: Raft) =
        if not (promotable r) then
            // Callers check this; never expected.
            warn (sprintf "%x is unpromotable; campaign() should have been called" r.Id) r
        let voteMsg, term =
            match t with
            | CampaignPreElection ->
                becomePreCandidate r
                // Pre-votes are for the next term, before the term is raised.
                MsgPreVote, r.Term + 1UL
            | _ ->
                becomeCandidate r
                MsgVote, r.Term
        let _, _, res = poll r.Id (Pb.voteRespMsgType voteMsg) true r
        if res = VoteWon then
            // Only this node votes: a single-node cluster.
            match t with
            | CampaignPreElection -> campaign CampaignElection r
            | _ -> becomeLeader r
        else
            for id in ProgressTracker.voterNodes r.Prs do
                if id <> r.Id then
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
                        r

    /// Starts an election unless this node leads already, cannot be promoted, or has committed
    /// conf changes still to apply.
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
                info (sprintf "%x is starting a new election at term %d" r.Id r.Term) r
                campaign t r

    // -----------------------------------------------------------------------------------------
    // Configuration.

    /// Installs a configuration computed by a Changer; a leader then commits what the new quorum
    /// allows and probes new peers. Returns the resulting ConfState.
    let private switchToConfig (cfg: TrackerConfig) (prs: ProgressMap) (r: Raft) : ConfState =
        r.Prs <- ProgressTracker.withConfig cfg prs r.Prs
        info (sprintf "%x switched to configuration %s" r.Id (TrackerConfig.toString r.Prs.Config)) r
        let cs = ProgressTracker.confState r.Prs
        let self = Map.tryFind r.Id r.Prs.Progress
        r.IsLearner <- (match self with Some pr -> pr.IsLearner | None -> false)
        if (self.IsNone || r.IsLearner) && r.State = StateLeader then
            // A leader that was removed or demoted keeps leading until it steps down on its own.
            ()
        elif r.State <> StateLeader || List.isEmpty cs.Voters then
            ()
        else
            if maybeCommit r then
                bcastAppend r
            else
                // Probe newly added peers right away.
                for id in r.ProgressIds do
                    maybeSendAppend id false r |> ignore
            if r.LeadTransferee <> NoNode && not (MajorityConfig.contains r.LeadTransferee (JointConfig.ids r.Prs.Config.Voters)) then
                abortLeaderTransfer r
        cs

    /// Applies a committed configuration change; returns the new ConfState. A change the
    /// Changer refuses is a broken invariant (the leader never lets such a change into the log).
    let applyConfChange (cc: ConfChangeV2) (r: Raft) : ConfState =
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

    // -----------------------------------------------------------------------------------------
    // Followers: appends, heartbeats, snapshots.

    /// An answer to `m.From`, built as `outgoing` would send it (saving a copy).
    let private reply (m: Message) (typ: MessageType) (index: uint64) (r: Raft) =
        { Pb.emptyMessage with Type = typ; To = m.From; From = r.Id; Term = r.Term; Index = index }

    let private handleAppendEntries (m: Message) (r: Raft) =
        if m.Index < r.RaftLog.Committed then
            r.Enqueue(reply m MsgAppResp r.RaftLog.Committed r)
        else
            match RaftLog.maybeAppendArrayV m.Index m.LogTerm m.Commit m.Entries r.RaftLog with
            | ValueSome(struct (l, lastnewi, lines)) ->
                r.RaftLog <- l
                addLines lines r
                r.Enqueue(reply m MsgAppResp lastnewi r)
            | ValueNone ->
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
                // Hint the largest (index, term) at which the logs may still agree: the largest
                // index with a term <= m.LogTerm, so the leader skips the follower's divergent tail.
                let hintIndex = min m.Index (lastIndex r)
                let hintIndex, lines = RaftLog.findConflictByTerm hintIndex m.LogTerm r.RaftLog
                addLines lines r
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
        r.RaftLog <- RaftLog.commitTo m.Commit r.RaftLog
        send { Pb.emptyMessage with To = m.From; Type = MsgHeartbeatResp; Context = m.Context } r

    /// Restores the log and configuration from a snapshot; false when it is ignored (obsolete,
    /// or not applicable to this node).
    let private restore (s: Snapshot) (r: Raft) : bool =
        if s.Metadata.Index <= r.RaftLog.Committed then
            false
        elif r.State <> StateFollower then
            // Defense in depth: only followers restore snapshots.
            warn (sprintf "%x attempted to restore snapshot as leader; should never happen" r.Id) r
            becomeFollower (r.Term + 1UL) NoNode r
            false
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
                    r
                false
            elif RaftLog.matchTerm s.Metadata.Index s.Metadata.Term r.RaftLog then
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
                r.RaftLog <- RaftLog.commitTo s.Metadata.Index r.RaftLog
                false
            else
                let l, line = RaftLog.restore s r.RaftLog
                r.RaftLog <- l
                addLines [ line ] r
                // Start over from an empty tracker and add the snapshot's peers.
                r.Prs <- ProgressTracker.make r.Prs.MaxInflight
                let cfg, prs = restoreConfig cs r
                let cs2 = switchToConfig cfg prs r
                assertConfStatesEquivalent cs cs2
                updateProgress r.Id (fun pr -> snd (Progress.maybeUpdate (pr.Next - 1UL) pr)) r
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
                true

    let private handleSnapshot (m: Message) (r: Raft) =
        let sindex, sterm = m.Snapshot.Metadata.Index, m.Snapshot.Metadata.Term
        if restore m.Snapshot r then
            info (sprintf "%x [commit: %d] restored snapshot [index: %d, term: %d]" r.Id r.RaftLog.Committed sindex sterm) r
            send { Pb.emptyMessage with To = m.From; Type = MsgAppResp; Index = lastIndex r } r
        else
            info (sprintf "%x [commit: %d] ignored snapshot [index: %d, term: %d]" r.Id r.RaftLog.Committed sindex sterm) r
            send { Pb.emptyMessage with To = m.From; Type = MsgAppResp; Index = r.RaftLog.Committed } r

    // -----------------------------------------------------------------------------------------
    // ReadIndex.

    /// Answers a read request: locally as a ReadState, or with a MsgReadIndexResp to a remote peer.
    let private responseToReadIndexReq (req: Message) (readIndex: uint64) (r: Raft) =
        if req.From = NoNode || req.From = r.Id then
            r.ReadStates <- { Index = readIndex; RequestCtx = req.Entries[0].Data } :: r.ReadStates
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
            r.ReadOnly <- ro
            bcastHeartbeatWithCtx m.Entries[0].Data r
        | ReadOnlyLeaseBased -> responseToReadIndexReq m r.RaftLog.Committed r

    let private releasePendingReadIndexMessages (r: Raft) =
        if r.PendingReadIndexMessages.IsEmpty then
            // Nothing held back (the common case): nothing to check or release.
            ()
        elif not (committedEntryInCurrentTerm r) then
            logError "pending MsgReadIndex should be released only after first commit in current term" r
        else
            let msgs = List.rev r.PendingReadIndexMessages
            r.PendingReadIndexMessages <- []
            for m in msgs do
                sendMsgReadIndexResponse m r

    // -----------------------------------------------------------------------------------------
    // Stepping by role.

    /// Decides whether proposed conf changes may enter the log; refused ones become empty
    /// entries. Returns the entries to append (the message's own array when nothing is refused).
    let private admitConfChanges (m: Message) (r: Raft) : Entry[] =
        let mutable ents = m.Entries
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
                    info
                        (sprintf
                            "%x ignoring conf change %s at config %s: %s"
                            r.Id
                            (describeConfChangeI cc)
                            (TrackerConfig.toString r.Prs.Config)
                            refused)
                        r
                    // The message is the caller's: replace in a copy.
                    if obj.ReferenceEquals(ents, m.Entries) then ents <- Array.copy m.Entries
                    ents[i] <- { Term = 0UL; Index = 0UL; Type = EntryNormal; Data = [||] }
                else
                    r.PendingConfIndex <- lastIndex r + uint64 i + 1UL
        ents

    let private stepLeaderAppResp (m: Message) (stored: Progress) (r: Raft) =
        let pr = if stored.RecentActive then stored else { stored with RecentActive = true }
        if m.Reject then
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
            // term there. When LogTerm is known, skip every index at which the leader's term is
            // larger: a probe there must fail too. This probes at most once per term in the
            // leader's log.
            let nextProbeIdx, lines =
                if m.LogTerm > 0UL then RaftLog.findConflictByTerm m.RejectHint m.LogTerm r.RaftLog
                else m.RejectHint, []
            addLines lines r
            match Progress.maybeDecrTo m.Index nextProbeIdx pr with
            | true, pr ->
                debug (sprintf "%x decreased progress of %x to [%s]" r.Id m.From (Progress.toString pr)) r
                let pr = if pr.State = StateReplicate then Progress.becomeProbe pr else pr
                setProgress m.From pr r
                sendAppend m.From r
            | false, pr -> setProgress m.From pr r
        else
            let oldPaused = Progress.isPaused pr
            let usualAck = pr.State = StateReplicate && pr.Match < m.Index
            let updated =
                if usualAck then
                    // Progress.maybeUpdate and freeing the acknowledged inflights, in one copy.
                    struct (true,
                            { pr with
                                Match = m.Index
                                Next = max pr.Next (m.Index + 1UL)
                                ProbeSent = false
                                Inflights = Inflights.freeLE m.Index pr.Inflights })
                else
                    Progress.maybeUpdateV m.Index pr
            match updated with
            | struct (false, pr) ->
                // A stale or repeated acknowledgement (the common answer to an empty append)
                // usually changes nothing: then the map stays as it is.
                if not (obj.ReferenceEquals(pr, stored)) then setProgress m.From pr r
            | struct (true, pr) ->
                let pr =
                    match pr.State with
                    | StateProbe -> Progress.becomeReplicate pr
                    | StateSnapshot when pr.Match >= pr.PendingSnapshot ->
                        debug
                            (sprintf
                                "%x recovered from needing snapshot, resumed sending replication messages to %x [%s]"
                                r.Id
                                m.From
                                (Progress.toString pr))
                            r
                        // Back to replicating via probing, which accounts for the snapshot.
                        pr |> Progress.becomeProbe |> Progress.becomeReplicate
                    | StateReplicate when usualAck -> pr
                    | StateReplicate -> { pr with Inflights = Inflights.freeLE m.Index pr.Inflights }
                    | StateSnapshot -> pr
                setProgress m.From pr r
                if maybeCommit r then
                    // A commit in this term makes it safe to answer held-back reads.
                    releasePendingReadIndexMessages r
                    bcastAppend r
                elif oldPaused then
                    // The follower may have missed the commit index while paused.
                    sendAppend m.From r
                // Send as much as flow control allows now, without empty appends.
                while maybeSendAppend m.From false r do
                    ()
                if m.From = r.LeadTransferee && (progress m.From r).Match = lastIndex r then
                    info (sprintf "%x sent MsgTimeoutNow to %x after received MsgAppResp" r.Id m.From) r
                    sendTimeoutNow m.From r

    let private stepLeader (m: Message) (r: Raft) : Result<unit, RaftError> =
        match m.Type with
        | MsgBeat ->
            bcastHeartbeat r
            okUnit
        | MsgCheckQuorum ->
            // The leader counts itself active (if it is still in the configuration).
            updateProgress r.Id (fun pr -> { pr with RecentActive = true }) r
            if not (ProgressTracker.quorumActive r.Prs) then
                warn (sprintf "%x stepped down to follower since quorum is not active" r.Id) r
                becomeFollower r.Term NoNode r
            // Everyone else must prove activity again before the next check.
            let self = r.Id
            r.Prs <- ProgressTracker.mapProgress (fun id pr -> if id <> self then { pr with RecentActive = false } else pr) r.Prs
            okUnit
        | MsgProp ->
            if m.Entries.Length = 0 then
                Invariant.broken (sprintf "%x stepped empty MsgProp" r.Id)
            if not (r.HasProgress r.Id) then
                // Removed from the configuration while leading: drop new proposals.
                dropped
            elif r.LeadTransferee <> NoNode then
                debug
                    (sprintf "%x [term %d] transfer leadership to %x is in progress; dropping proposal" r.Id r.Term r.LeadTransferee)
                    r
                dropped
            else
                let ents = admitConfChanges m r
                if appendEntry ents r then
                    bcastAppend r
                    okUnit
                else
                    dropped
        | MsgReadIndex ->
            if ProgressTracker.isSingleton r.Prs then
                // Only the leader votes: answer right away.
                responseToReadIndexReq m r.RaftLog.Committed r
            elif not (committedEntryInCurrentTerm r) then
                // Hold the read until an entry of this term commits.
                r.PendingReadIndexMessages <- m :: r.PendingReadIndexMessages
            else
                sendMsgReadIndexResponse m r
            okUnit
        | _ ->
            // Everything else needs the sender's progress.
            let k = r.ProgressIndex m.From
            if k < 0 then
                debug (sprintf "%x no progress available for %x" r.Id m.From) r
                okUnit
            else
                let pr = r.ProgressAt k
                match m.Type with
                | MsgAppResp -> stepLeaderAppResp m pr r
                | MsgHeartbeatResp ->
                    let pr = { pr with RecentActive = true; ProbeSent = false }
                    // Free one slot of a full window so that replication can make progress.
                    let pr =
                        if pr.State = StateReplicate && pr.Inflights.Full then
                            { pr with Inflights = Inflights.freeFirstOne pr.Inflights }
                        else
                            pr
                    setProgress m.From pr r
                    if pr.Match < lastIndex r then sendAppend m.From r
                    if r.ReadOnly.Option = ReadOnlySafe && m.Context.Length <> 0 then
                        let ro, acks = ReadOnly.recvAck m.From m.Context r.ReadOnly
                        r.ReadOnly <- ro
                        let acks = defaultArg acks Map.empty
                        if JointConfig.voteResult acks r.Prs.Config.Voters = VoteWon then
                            let ro, rss = ReadOnly.advance m r.ReadOnly
                            r.ReadOnly <- ro
                            for rs in rss do
                                responseToReadIndexReq rs.Req rs.Index r
                | MsgSnapStatus ->
                    if pr.State = StateSnapshot then
                        let pr =
                            if not m.Reject then
                                let pr = Progress.becomeProbe pr
                                debug
                                    (sprintf
                                        "%x snapshot succeeded, resumed sending replication messages to %x [%s]"
                                        r.Id
                                        m.From
                                        (Progress.toString pr))
                                    r
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
                                    r
                                pr
                        // Wait for the follower's MsgAppResp (or a heartbeat interval) before the
                        // next append.
                        setProgress m.From { pr with ProbeSent = true } r
                | MsgUnreachable ->
                    // In optimistic replication an unreachable peer probably lost an append.
                    let pr = if pr.State = StateReplicate then Progress.becomeProbe pr else pr
                    setProgress m.From pr r
                    debug (sprintf "%x failed to send message to %x because it is unreachable [%s]" r.Id m.From (Progress.toString pr)) r
                | MsgTransferLeader ->
                    if pr.IsLearner then
                        debug (sprintf "%x is learner. Ignored transferring leadership" r.Id) r
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
                        else
                            if lastLeadTransferee <> NoNode then
                                abortLeaderTransfer r
                                info (sprintf "%x [term %d] abort previous transferring leadership to %x" r.Id r.Term lastLeadTransferee) r
                            if leadTransferee = r.Id then
                                debug (sprintf "%x is already leader. Ignored transferring leadership to self" r.Id) r
                            else
                                info (sprintf "%x [term %d] starts to transfer leadership to %x" r.Id r.Term leadTransferee) r
                                // The transfer must finish within an election timeout.
                                r.ElectionElapsed <- 0
                                r.LeadTransferee <- leadTransferee
                                if pr.Match = lastIndex r then
                                    sendTimeoutNow leadTransferee r
                                    info
                                        (sprintf
                                            "%x sends MsgTimeoutNow to %x immediately as %x already has up-to-date log"
                                            r.Id
                                            leadTransferee
                                            leadTransferee)
                                        r
                                else
                                    sendAppend leadTransferee r
                | _ -> ()
                okUnit

    /// Shared by StateCandidate and StatePreCandidate, which differ in the vote responses they
    /// count.
    let private stepCandidate (m: Message) (r: Raft) : Result<unit, RaftError> =
        // A candidate may still receive pre-vote responses from its pre-candidacy; ignore them.
        let myVoteRespType = if r.State = StatePreCandidate then MsgPreVoteResp else MsgVoteResp
        match m.Type with
        | MsgProp ->
            info (sprintf "%x no leader at term %d; dropping proposal" r.Id r.Term) r
            dropped
        | MsgApp ->
            becomeFollower m.Term m.From r // m.Term = r.Term
            handleAppendEntries m r
            okUnit
        | MsgHeartbeat ->
            becomeFollower m.Term m.From r
            handleHeartbeat m r
            okUnit
        | MsgSnap ->
            becomeFollower m.Term m.From r
            handleSnapshot m r
            okUnit
        | t when t = myVoteRespType ->
            let gr, rj, res = poll m.From m.Type (not m.Reject) r
            info (sprintf "%x has received %d %s votes and %d vote rejections" r.Id gr (Pb.messageTypeName m.Type) rj) r
            match res with
            | VoteWon ->
                if r.State = StatePreCandidate then
                    campaign CampaignElection r
                else
                    becomeLeader r
                    bcastAppend r
            | VoteLost ->
                // A MsgPreVoteResp carries the pre-candidate's future term; keep ours.
                becomeFollower r.Term NoNode r
            | VotePending -> ()
            okUnit
        | MsgTimeoutNow ->
            debug (sprintf "%x [term %d state %s] ignored MsgTimeoutNow from %x" r.Id r.Term (Pb.stateTypeName r.State) m.From) r
            okUnit
        | _ -> okUnit

    let private stepFollower (m: Message) (r: Raft) : Result<unit, RaftError> =
        match m.Type with
        | MsgProp ->
            if r.Lead = NoNode then
                info (sprintf "%x no leader at term %d; dropping proposal" r.Id r.Term) r
                dropped
            elif r.Settings.DisableProposalForwarding then
                info (sprintf "%x not forwarding to leader %x at term %d; dropping proposal" r.Id r.Lead r.Term) r
                dropped
            else
                send { m with To = r.Lead } r
                okUnit
        | MsgApp ->
            r.ElectionElapsed <- 0
            r.Lead <- m.From
            handleAppendEntries m r
            okUnit
        | MsgHeartbeat ->
            r.ElectionElapsed <- 0
            r.Lead <- m.From
            handleHeartbeat m r
            okUnit
        | MsgSnap ->
            r.ElectionElapsed <- 0
            r.Lead <- m.From
            handleSnapshot m r
            okUnit
        | MsgTransferLeader ->
            if r.Lead = NoNode then
                info (sprintf "%x no leader at term %d; dropping leader transfer msg" r.Id r.Term) r
            else
                send { m with To = r.Lead } r
            okUnit
        | MsgTimeoutNow ->
            info
                (sprintf
                    "%x [term %d] received MsgTimeoutNow from %x and starts an election to get leadership."
                    r.Id
                    r.Term
                    m.From)
                r
            // Transfers never pre-vote: the leader asked for this election.
            hup CampaignTransfer r
            okUnit
        | MsgReadIndex ->
            if r.Lead = NoNode then
                info (sprintf "%x no leader at term %d; dropping index reading msg" r.Id r.Term) r
            else
                send { m with To = r.Lead } r
            okUnit
        | MsgReadIndexResp ->
            if m.Entries.Length <> 1 then
                logError
                    (sprintf "%x invalid format of MsgReadIndexResp from %x, entries count: %d" r.Id m.From m.Entries.Length)
                    r
            else
                r.ReadStates <- { Index = m.Index; RequestCtx = m.Entries[0].Data } :: r.ReadStates
            okUnit
        | _ -> okUnit

    /// etcd's log line for a decision on a vote request: the node's log position and vote, the
    /// decision, and the candidate's log position.
    let private voteLine (decision: string) (preposition: string) (m: Message) (r: Raft) =
        sprintf
            "%x [logterm: %d, index: %d, vote: %x] %s %s %s %x [logterm: %d, index: %d] at term %d"
            r.Id
            (lastTerm r)
            (lastIndex r)
            r.Vote
            decision
            (Pb.messageTypeName m.Type)
            preposition
            m.From
            m.LogTerm
            m.Index
            r.Term

    /// Handles a vote request at the node's term (after the term checks of `step`).
    let private handleVoteRequest (m: Message) (r: Raft) =
        // A vote can be granted when it repeats the one already cast, when there is neither a
        // vote nor a leader in this term, or when it is a pre-vote for a future term; and only to
        // a candidate whose log is at least as up to date. Learners vote too: a learner may have
        // been promoted without knowing it yet.
        let canVote =
            r.Vote = m.From
            || (r.Vote = NoNode && r.Lead = NoNode)
            || (m.Type = MsgPreVote && m.Term > r.Term)
        if canVote && RaftLog.isUpToDate m.Index m.LogTerm r.RaftLog then
            info (voteLine "cast" "for" m r) r
            // The response carries the message's term, not ours: a pre-candidate must not ignore it.
            send { Pb.emptyMessage with To = m.From; Term = m.Term; Type = Pb.voteRespMsgType m.Type } r
            if m.Type = MsgVote then
                // Only real votes are recorded.
                r.ElectionElapsed <- 0
                r.Vote <- m.From
        else
            info (voteLine "rejected" "from" m r) r
            send
                { Pb.emptyMessage with
                    To = m.From
                    Term = r.Term
                    Type = Pb.voteRespMsgType m.Type
                    Reject = true }
                r

    /// Advances the state machine by one message (etcd's raft.Step).
    let step (m: Message) (r: Raft) : Result<unit, RaftError> =
        // First the message's term, which may turn this node into a follower or end the step.
        let proceed =
            if m.Term = 0UL then
                // A local message.
                true
            elif m.Term > r.Term then
                let inLeaseIgnored =
                    if m.Type = MsgVote || m.Type = MsgPreVote then
                        let force = m.Context.AsSpan().SequenceEqual(ReadOnlySpan campaignTransferContext)
                        let inLease =
                            r.Settings.CheckQuorum && r.Lead <> NoNode && r.ElectionElapsed < r.Settings.ElectionTimeout
                        // Within the minimum election timeout of hearing from a leader, neither
                        // raise the term nor vote.
                        not force && inLease
                    else
                        false
                if inLeaseIgnored then
                    info
                        (voteLine "ignored" "from" m r
                         + sprintf ": lease is not expired (remaining ticks: %d)" (r.Settings.ElectionTimeout - r.ElectionElapsed))
                        r
                    false
                elif m.Type = MsgPreVote || (m.Type = MsgPreVoteResp && not m.Reject) then
                    // Pre-votes never change the term; a granted pre-vote response carries the
                    // term this node will campaign for once it has a quorum.
                    true
                else
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
                    becomeFollower m.Term lead r
                    true
            elif m.Term < r.Term then
                if (r.Settings.CheckQuorum || r.Settings.PreVote) && (m.Type = MsgHeartbeat || m.Type = MsgApp) then
                    // A leader of a lower term: perhaps this node's term ran ahead while it was
                    // partitioned. Answer so the stale leader learns the term (with CheckQuorum or
                    // PreVote, vote requests would not raise it).
                    send { Pb.emptyMessage with To = m.From; Type = MsgAppResp } r
                elif m.Type = MsgPreVote then
                    // Rejecting (rather than ignoring) keeps a cluster that just enabled PreVote
                    // from deadlocking on a candidate with a higher term and a shorter log.
                    info (voteLine "rejected" "from" m r) r
                    send
                        { Pb.emptyMessage with
                            To = m.From
                            Term = r.Term
                            Type = MsgPreVoteResp
                            Reject = true }
                        r
                else
                    info
                        (sprintf
                            "%x [term: %d] ignored a %s message with lower term from %x [term: %d]"
                            r.Id
                            r.Term
                            (Pb.messageTypeName m.Type)
                            m.From
                            m.Term)
                        r
                false
            else
                true
        if not proceed then
            okUnit
        else
            match m.Type with
            | MsgHup ->
                hup (if r.Settings.PreVote then CampaignPreElection else CampaignElection) r
                okUnit
            | MsgVote
            | MsgPreVote ->
                handleVoteRequest m r
                okUnit
            | _ ->
                match r.State with
                | StateFollower -> stepFollower m r
                | StateCandidate
                | StatePreCandidate -> stepCandidate m r
                | StateLeader -> stepLeader m r

    /// A proposal of one normal entry with `data` (RawNode's Propose). A leader that accepts
    /// proposals appends the entry as stepLeader's MsgProp does, without building the message
    /// and a second entry; every other node steps the MsgProp.
    let propose (data: byte[]) (r: Raft) : Result<unit, RaftError> =
        if r.State = StateLeader && r.HasProgress r.Id && r.LeadTransferee = NoNode then
            let e = { Term = r.Term; Index = lastIndex r + 1UL; Type = EntryNormal; Data = data }
            if appendStamped [| e |] r then
                bcastAppend r
                okUnit
            else
                dropped
        else
            step
                { Pb.emptyMessage with
                    Type = MsgProp
                    From = r.Id
                    Entries = [| { Term = 0UL; Index = 0UL; Type = EntryNormal; Data = data } |] }
                r

    // -----------------------------------------------------------------------------------------
    // Time.

    /// Followers and candidates: campaign once the randomized election timeout has passed.
    let private tickElection (r: Raft) =
        r.ElectionElapsed <- r.ElectionElapsed + 1
        if promotable r && pastElectionTimeout r then
            r.ElectionElapsed <- 0
            step { Pb.emptyMessage with From = r.Id; Type = MsgHup } r |> ignore

    /// Leaders: heartbeat every heartbeat timeout; check the quorum and give up a stalled
    /// transfer every election timeout.
    let private tickHeartbeat (r: Raft) =
        r.HeartbeatElapsed <- r.HeartbeatElapsed + 1
        r.ElectionElapsed <- r.ElectionElapsed + 1
        if r.ElectionElapsed >= r.Settings.ElectionTimeout then
            r.ElectionElapsed <- 0
            if r.Settings.CheckQuorum then
                step { Pb.emptyMessage with From = r.Id; Type = MsgCheckQuorum } r |> ignore
            // A transfer that did not finish within an election timeout is abandoned.
            if r.State = StateLeader && r.LeadTransferee <> NoNode then abortLeaderTransfer r
        if r.State = StateLeader && r.HeartbeatElapsed >= r.Settings.HeartbeatTimeout then
            r.HeartbeatElapsed <- 0
            step { Pb.emptyMessage with From = r.Id; Type = MsgBeat } r |> ignore

    /// Advances the logical clock by one tick.
    let tick (r: Raft) =
        match r.State with
        | StateLeader -> tickHeartbeat r
        | StateFollower
        | StateCandidate
        | StatePreCandidate -> tickElection r

    // -----------------------------------------------------------------------------------------
    // Ready handling.

    /// The host handled a Ready: committed entries (or the snapshot) are applied and the entries
    /// and snapshot are stable. A leader whose joint configuration is now applied and marked for
    /// auto-leave proposes leaving it.
    let advance (rd: Ready) (r: Raft) =
        reduceUncommittedSize rd.CommittedEntries r
        let newApplied =
            if rd.CommittedEntries.Length > 0 then rd.CommittedEntries[rd.CommittedEntries.Length - 1].Index
            else rd.Snapshot.Metadata.Index
        if newApplied > 0UL then
            let oldApplied = r.RaftLog.Applied
            r.RaftLog <- RaftLog.appliedTo newApplied r.RaftLog
            if r.TrackerConfig.AutoLeave
               && oldApplied <= r.PendingConfIndex
               && newApplied >= r.PendingConfIndex
               && r.State = StateLeader then
                // Empty data unmarshals to the empty ConfChangeV2 and is never refused by size.
                let ent = { Term = 0UL; Index = 0UL; Type = EntryConfChangeV2; Data = [||] }
                if not (appendEntry [| ent |] r) then
                    Invariant.broken "refused un-refusable auto-leaving ConfChangeV2"
                r.PendingConfIndex <- lastIndex r
                info
                    (sprintf "initiating automatic transition out of joint configuration %s" (TrackerConfig.toString r.Prs.Config))
                    r
        if rd.Entries.Length > 0 then
            let e = rd.Entries[rd.Entries.Length - 1]
            r.RaftLog <- RaftLog.stableTo e.Index e.Term r.RaftLog
        if not (Pb.isEmptySnap rd.Snapshot) then
            r.RaftLog <- RaftLog.stableSnapTo rd.Snapshot.Metadata.Index r.RaftLog

    // -----------------------------------------------------------------------------------------
    // Creation.

    let private loadState (hs: HardState) (r: Raft) =
        if hs.Commit < r.RaftLog.Committed || hs.Commit > lastIndex r then
            Invariant.broken (
                sprintf "%x state.commit %d is out of range [%d, %d]" r.Id hs.Commit r.RaftLog.Committed (lastIndex r)
            )
        r.RaftLog <- { r.RaftLog with Committed = hs.Commit }
        r.Term <- hs.Term
        r.Vote <- hs.Vote

    /// A new node over the storage's state (etcd's newRaft).
    let create (c: Config) (storage: MemoryStorage) : Raft =
        let hs, cs = MemoryStorage.initialState storage
        let settings =
            { ElectionTimeout = c.ElectionTick
              HeartbeatTimeout = c.HeartbeatTick
              MaxMsgSize = c.MaxSizePerMsg
              MaxUncommittedSize = c.MaxUncommittedEntriesSize
              CheckQuorum = c.CheckQuorum
              PreVote = c.PreVote
              DisableProposalForwarding = c.DisableProposalForwarding }
        let r =
            Raft(
                c.ID,
                settings,
                RaftLog.newLogWithSize storage c.MaxCommittedSizePerReady,
                ProgressTracker.make c.MaxInflightMsgs,
                ReadOnly.create c.ReadOnlyOption,
                defaultArg c.Seed c.ID
            )
        let cfg, prs = restoreConfig cs r
        let cs2 = switchToConfig cfg prs r
        assertConfStatesEquivalent cs cs2
        if not (Pb.isEmptyHardState hs) then loadState hs r
        if c.Applied > 0UL then r.RaftLog <- RaftLog.appliedTo c.Applied r.RaftLog
        becomeFollower r.Term NoNode r
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
        r

// ---------------------------------------------------------------------------------------------
// The public operations: each works on a copy of the node and returns it.

/// Advances the state machine by one message (etcd's raft.Step).
let step (m: Message) (r: Raft) : Raft * Result<unit, RaftError> =
    let w = r.Clone()
    let res = InPlace.step m w
    w, res

/// Advances the logical clock by one tick.
let tick (r: Raft) =
    let w = r.Clone()
    InPlace.tick w
    w

/// The host handled a Ready (see InPlace.advance).
let advance (rd: Ready) (r: Raft) =
    let w = r.Clone()
    InPlace.advance rd w
    w

let becomeFollower (term: uint64) (lead: uint64) (r: Raft) =
    let w = r.Clone()
    InPlace.becomeFollower term lead w
    w

let becomeCandidate (r: Raft) =
    let w = r.Clone()
    InPlace.becomeCandidate w
    w

let becomePreCandidate (r: Raft) =
    let w = r.Clone()
    InPlace.becomePreCandidate w
    w

let becomeLeader (r: Raft) =
    let w = r.Clone()
    InPlace.becomeLeader w
    w

/// Applies a committed configuration change; returns the new ConfState. A change the Changer
/// refuses is a broken invariant (the leader never lets such a change into the log).
let applyConfChange (cc: ConfChangeV2) (r: Raft) : Raft * ConfState =
    let w = r.Clone()
    let cs = InPlace.applyConfChange cc w
    w, cs

/// The node with its current randomized election timeout pinned (until the next reset draws a
/// new one); for test harnesses that must not depend on random draws.
let withRandomizedElectionTimeout (timeout: int) (r: Raft) =
    let w = r.Clone()
    w.RandomizedElectionTimeout <- timeout
    w

/// A node over the storage's state (etcd's newRaft). The config must be valid (see
/// Config.validate); an invalid one is a broken invariant.
let create (config: Config) (storage: MemoryStorage) : Raft =
    match Config.validate config with
    | Ok c -> InPlace.create c storage
    | Error e -> Invariant.broken e
