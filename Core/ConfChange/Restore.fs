/// Rebuilds a tracker's configuration from a ConfState (etcd's confchange.Restore), e.g. when a
/// node starts from a snapshot.
///
/// API shape: `Restore.restore chg cs : Result<TrackerConfig * ProgressMap, string>` where `chg`
/// holds an empty tracker (`ProgressTracker.make maxInflight`) and the last log index.
/// `Restore.toConfChangeSingle cs` exposes the two change lists it replays.
[<RequireQualifiedAccess>]
module Raft.Core.Restore

/// The changes that recreate `cs` from an empty config: `outgoing` builds (as a plain config) what
/// becomes the outgoing half; `incoming`, applied while entering the joint config, removes those
/// voters and adds the incoming voters, the learners and the staged learners (as learners, which
/// the Changer stages because they are outgoing voters).
let toConfChangeSingle (cs: ConfState) : ConfChangeSingle list * ConfChangeSingle list =
    let ofType t ids = ids |> List.map (fun id -> { Type = t; NodeID = id })
    let outgoing = ofType ConfChangeAddNode cs.VotersOutgoing
    let incoming =
        ofType ConfChangeRemoveNode cs.VotersOutgoing
        @ ofType ConfChangeAddNode cs.Voters
        @ ofType ConfChangeAddLearnerNode cs.Learners
        @ ofType ConfChangeAddLearnerNode cs.LearnersNext
    outgoing, incoming

/// Runs the changes enacting `cs` on the Changer's (empty) configuration.
let restore (chg: Changer) (cs: ConfState) : Result<TrackerConfig * ProgressMap, string> =
    let outgoing, incoming = toConfChangeSingle cs
    // Each change is a single-voter step; without an outgoing config that is all there is.
    // Otherwise the outgoing voters are first built as the active config, and entering the joint
    // config rotates them into the outgoing half while the incoming changes apply.
    let ops: (Changer -> Result<TrackerConfig * ProgressMap, string>) list =
        if List.isEmpty outgoing then
            incoming |> List.map (fun cc -> Changer.simple [ cc ])
        else
            (outgoing |> List.map (fun cc -> Changer.simple [ cc ])) @ [ Changer.enterJoint cs.AutoLeave incoming ]
    let step (acc: Result<Changer, string>) op =
        acc
        |> Result.bind (fun chg ->
            op chg |> Result.map (fun (cfg, prs) -> { chg with Tracker = ProgressTracker.withConfig cfg prs chg.Tracker }))
    List.fold step (Ok chg) ops |> Result.map (fun chg -> chg.Tracker.Config, chg.Tracker.Progress)
