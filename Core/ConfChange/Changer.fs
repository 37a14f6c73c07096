/// Configuration changes with validation (etcd's confchange.Changer): simple changes that alter
/// the voters by at most one, and joint consensus (enter, then leave, a joint config).
///
/// API shape:
///   - `Changer = { Tracker: ProgressTracker; LastIndex: uint64 }` — the current tracker and the
///     leader's last log index (a new peer's Next).
///   - `Changer.simple ccs chg`, `Changer.enterJoint autoLeave ccs chg`, `Changer.leaveJoint chg`,
///     each `: Result<TrackerConfig * ProgressMap, string>`. The error texts are etcd's. Install a
///     result with `ProgressTracker.withConfig cfg prs tracker`; the Changer itself never changes.
///   - `Changer.describe ccs` — etcd's confchange.Describe: `ConfChangeAddNode(2) ...`.
///
/// etcd copies the tracker's config and progress map (sharing each Progress's Inflights with the
/// original), mutates the copies in place and returns them. Here each step returns a new config
/// and map; the tracker the Changer was given is untouched by construction.
namespace Raft.Core

open System.Text

/// The tracker to change and the last log index (etcd's confchange.Changer).
[<NoComparison>]
type Changer = { Tracker: ProgressTracker; LastIndex: uint64 }

[<RequireQualifiedAccess>]
module Changer =
    /// The state the steps of a change thread through.
    type private Work = TrackerConfig * ProgressMap

    let private isJoint (cfg: TrackerConfig) = cfg.Voters.Outgoing.Count > 0
    let private setIncoming (m: MajorityConfig) (cfg: TrackerConfig) = { cfg with Voters = { cfg.Voters with Incoming = m } }

    /// The config and progress map agree with each other (etcd's checkInvariants).
    let private checkInvariants ((cfg, prs): Work) : Result<Work, string> =
        let missing =
            [ JointConfig.ids cfg.Voters; cfg.Learners; cfg.LearnersNext ]
            |> List.tryPick (fun ids -> MajorityConfig.toList ids |> List.tryFind (fun id -> not (prs.ContainsKey id)))
        let isLearner id = prs[id].IsLearner
        match missing with
        | Some id -> Error(sprintf "no progress for %d" id)
        | None ->
            // A staged learner was staged because it is still a voter in the outgoing config.
            let badNext =
                MajorityConfig.toList cfg.LearnersNext
                |> List.tryPick (fun id ->
                    if not (cfg.Voters.Outgoing.Contains id) then Some(sprintf "%d is in LearnersNext, but not Voters[1]" id)
                    elif isLearner id then Some(sprintf "%d is in LearnersNext, but is already marked as learner" id)
                    else None)
            // Learners and voters never intersect.
            let badLearner () =
                MajorityConfig.toList cfg.Learners
                |> List.tryPick (fun id ->
                    if cfg.Voters.Outgoing.Contains id then Some(sprintf "%d is in Learners and Voters[1]" id)
                    elif cfg.Voters.Incoming.Contains id then Some(sprintf "%d is in Learners and Voters[0]" id)
                    elif not (isLearner id) then Some(sprintf "%d is in Learners, but is not marked as learner" id)
                    else None)
            match badNext |> Option.orElseWith badLearner with
            | Some e -> Error e
            | None ->
                // etcd also requires Voters[1] and LearnersNext to be nil (not merely empty) outside a
                // joint config; an empty set is the only representation here, so only the
                // LearnersNext and AutoLeave checks remain.
                if not (isJoint cfg) && cfg.LearnersNext.Count > 0 then
                    Error "cfg.LearnersNext must be nil when not joint"
                elif not (isJoint cfg) && cfg.AutoLeave then
                    Error "AutoLeave must be false when not joint"
                else
                    Ok(cfg, prs)

    /// Tracks a new peer as a voter in the incoming config or as a learner.
    let private initProgress (chg: Changer) (id: uint64) (isLearner: bool) ((cfg, prs): Work) : Work =
        let cfg =
            if isLearner then { cfg with Learners = MajorityConfig.add id cfg.Learners }
            else setIncoming (MajorityConfig.add id cfg.Voters.Incoming) cfg
        // Next at the last index lets the peer be probed from there. A new peer counts as recently
        // active so that CheckQuorum does not depose the leader before the peer could answer.
        let pr = { Progress.create chg.Tracker.MaxInflight chg.LastIndex isLearner with RecentActive = true }
        cfg, Map.add id pr prs

    /// Removes the peer as a voter or learner from the incoming config; its progress stays while it
    /// is still a voter in the outgoing config.
    let private remove (id: uint64) ((cfg, prs): Work) : Work =
        if not (prs.ContainsKey id) then
            cfg, prs
        else
            let cfg =
                { setIncoming (MajorityConfig.remove id cfg.Voters.Incoming) cfg with
                    Learners = MajorityConfig.remove id cfg.Learners
                    LearnersNext = MajorityConfig.remove id cfg.LearnersNext }
            let prs = if cfg.Voters.Outgoing.Contains id then prs else Map.remove id prs
            cfg, prs

    /// Adds the peer as a voter in the incoming config, or promotes it.
    let private makeVoter (chg: Changer) (id: uint64) ((cfg, prs): Work) : Work =
        match prs.TryGetValue id with
        | false, _ -> initProgress chg id false (cfg, prs)
        | true, pr ->
            let cfg =
                { setIncoming (MajorityConfig.add id cfg.Voters.Incoming) cfg with
                    Learners = MajorityConfig.remove id cfg.Learners
                    LearnersNext = MajorityConfig.remove id cfg.LearnersNext }
            cfg, Map.add id { pr with IsLearner = false } prs

    /// Adds the peer as a learner, or demotes a voter. A peer that is still a voter in the outgoing
    /// config is staged in LearnersNext instead (it cannot be voter and learner at once) and
    /// becomes a learner when the joint config is left.
    let private makeLearner (chg: Changer) (id: uint64) ((cfg, prs): Work) : Work =
        match prs.TryGetValue id with
        | false, _ -> initProgress chg id true (cfg, prs)
        | true, pr when pr.IsLearner -> cfg, prs
        | true, pr ->
            let cfg, prs = remove id (cfg, prs)
            // Keep the progress that remove may have dropped.
            if cfg.Voters.Outgoing.Contains id then
                { cfg with LearnersNext = MajorityConfig.add id cfg.LearnersNext }, Map.add id pr prs
            else
                { cfg with Learners = MajorityConfig.add id cfg.Learners }, Map.add id { pr with IsLearner = true } prs

    /// Applies the changes to the incoming config in order; a zero NodeID means "skip" (etcd zeroes
    /// the changes it decides not to apply).
    let private apply (chg: Changer) (ccs: ConfChangeSingle list) (work: Work) : Result<Work, string> =
        let step work (cc: ConfChangeSingle) =
            if cc.NodeID = 0UL then
                work
            else
                match cc.Type with
                | ConfChangeAddNode -> makeVoter chg cc.NodeID work
                | ConfChangeAddLearnerNode -> makeLearner chg cc.NodeID work
                | ConfChangeRemoveNode -> remove cc.NodeID work
                | ConfChangeUpdateNode -> work
        let cfg, prs = List.fold step work ccs
        if cfg.Voters.Incoming.Count = 0 then Error "removed all voters" else Ok(cfg, prs)

    let private current (chg: Changer) = checkInvariants (chg.Tracker.Config, chg.Tracker.Progress)

    /// Enters a joint config: the outgoing half becomes a copy of the incoming one, then the
    /// changes apply to the incoming half (the thesis's C_{new,old}).
    let enterJoint (autoLeave: bool) (ccs: ConfChangeSingle list) (chg: Changer) =
        current chg
        |> Result.bind (fun (cfg, prs) ->
            if isJoint cfg then Error "config is already joint"
            elif cfg.Voters.Incoming.Count = 0 then
                // Peers may be added to an empty config (bootstrap, tests), but it cannot go joint.
                Error "can't make a zero-voter config joint"
            else Ok({ cfg with Voters = { cfg.Voters with Outgoing = cfg.Voters.Incoming } }, prs))
        |> Result.bind (apply chg ccs)
        |> Result.bind (fun (cfg, prs) -> checkInvariants ({ cfg with AutoLeave = autoLeave }, prs))

    /// Leaves a joint config: the incoming half decides alone, staged learners become learners, and
    /// peers only in the outgoing half are no longer tracked.
    let leaveJoint (chg: Changer) =
        current chg
        |> Result.bind (fun (cfg, prs) ->
            if not (isJoint cfg) then
                Error "can't leave a non-joint config"
            else
                let learners = MajorityConfig.union cfg.Learners cfg.LearnersNext
                let prs =
                    MajorityConfig.fold (fun (prs: ProgressMap) id -> Map.add id { prs[id] with IsLearner = true } prs) prs cfg.LearnersNext
                let prs =
                    cfg.Voters.Outgoing
                    |> MajorityConfig.fold
                        (fun prs id ->
                            if cfg.Voters.Incoming.Contains id || learners.Contains id then prs else Map.remove id prs)
                        prs
                checkInvariants (
                    { cfg with
                        Voters = JointConfig.ofIncoming cfg.Voters.Incoming
                        Learners = learners
                        LearnersNext = MajorityConfig.empty
                        AutoLeave = false },
                    prs
                ))

    /// The number of ids in exactly one of the two configs.
    let private symdiff (a: MajorityConfig) (b: MajorityConfig) =
        let only (x: MajorityConfig) (y: MajorityConfig) = MajorityConfig.fold (fun n id -> if y.Contains id then n else n + 1) 0 x
        only a b + only b a

    /// Applies changes that alter the incoming voters by at most one, outside a joint config.
    let simple (ccs: ConfChangeSingle list) (chg: Changer) =
        current chg
        |> Result.bind (fun work ->
            if isJoint (fst work) then Error "can't apply simple config change in joint config" else Ok work)
        |> Result.bind (apply chg ccs)
        |> Result.bind (fun (cfg, prs) ->
            if symdiff chg.Tracker.Config.Voters.Incoming cfg.Voters.Incoming > 1 then
                Error "more than one voter changed without entering joint config"
            else
                checkInvariants (cfg, prs))

    /// etcd's confchange.Describe: `ConfChangeAddNode(1) ConfChangeRemoveNode(2)`.
    let describe (ccs: ConfChangeSingle seq) =
        let sb = StringBuilder()
        for cc in ccs do
            if sb.Length > 0 then sb.Append(' ') |> ignore
            sb.Append(Pb.confChangeTypeName cc.Type).Append('(').Append(cc.NodeID).Append(')') |> ignore
        sb.ToString()
