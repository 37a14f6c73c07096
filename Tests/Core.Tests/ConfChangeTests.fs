/// Properties of the Changer and Restore, after etcd's confchange/quick_test.go and
/// restore_test.go, each shown to catch a deliberately broken variant.
module Raft.Core.Tests.ConfChangeTests

open Expecto
open Hedgehog
open Hedgehog.FSharp
open Raft.Core
open Raft.Core.Tests.PropertyCheck

let private cc t id = { Type = t; NodeID = id }

let private install chg (cfg, prs) = { chg with Tracker = ProgressTracker.withConfig cfg prs chg.Tracker }

/// The three operations under test; broken variants replace one.
type private ChangerOps =
    { Simple: ConfChangeSingle list -> Changer -> Result<TrackerConfig * ProgressMap, string>
      EnterJoint: bool -> ConfChangeSingle list -> Changer -> Result<TrackerConfig * ProgressMap, string>
      LeaveJoint: Changer -> Result<TrackerConfig * ProgressMap, string> }

let private realOps = { Simple = Changer.simple; EnterJoint = Changer.enterJoint; LeaveJoint = Changer.leaveJoint }

/// Node 1 is always a voter (so simple changes can always make progress), plus up to five more.
let private genSetup =
    gen {
        let! ids = Gen.list (Range.constant 1 5) (Gen.int32 (Range.constant 1 5))
        return cc ConfChangeAddNode 1UL :: (ids |> List.map (uint64 >> cc ConfChangeAddNode))
    }

/// One to nine changes of any type to nodes 2..10 (never node 1).
let private genChanges =
    gen {
        return!
            Gen.list (Range.constant 1 9) (
                gen {
                    let! t = Gen.item [ ConfChangeAddNode; ConfChangeRemoveNode; ConfChangeUpdateNode; ConfChangeAddLearnerNode ]
                    let! id = Gen.int32 (Range.constant 2 10)
                    return cc t (uint64 id)
                }
            )
    }

let private runSimple (ops: ChangerOps) (chg: Changer) (ccs: ConfChangeSingle list) =
    ccs |> List.fold (fun acc c -> acc |> Result.bind (fun chg -> ops.Simple [ c ] chg |> Result.map (install chg))) (Ok chg)

let private runJoint (ops: ChangerOps) (chg: Changer) (ccs: ConfChangeSingle list) =
    match ops.EnterJoint false ccs chg, ops.EnterJoint true ccs chg with
    | Ok(cfg, prs), Ok(cfgA, prsA) ->
        // Entering with autoLeave gives the same config, AutoLeave aside, and so does leaving it.
        if not cfgA.AutoLeave || { cfgA with AutoLeave = false } <> cfg || prsA <> prs then
            Error(sprintf "autoLeave changed the joint config: %O vs %O" cfg cfgA)
        else
            match ops.LeaveJoint(install chg (cfg, prs)), ops.LeaveJoint(install chg (cfgA, prsA)) with
            | Ok left, Ok leftA when left = leftA -> Ok(install chg left)
            | Ok _, Ok _ -> Error "leaving the autoLeave joint config differs"
            | Error e, _
            | _, Error e -> Error e
    | Error e, _
    | _, Error e -> Error e

/// Applying changes one by one, or all at once through a joint config, ends in the same config.
let private simpleMatchesJoint (ops: ChangerOps) =
    property {
        let! setup = genSetup
        let! ccs = genChanges
        do! Property.counterexample (fun () -> sprintf "setup: %s\nchanges: %s" (Changer.describe setup) (Changer.describe ccs))
        let start = runSimple ops { Tracker = ProgressTracker.make 10; LastIndex = 10UL } setup
        let viaSimple = start |> Result.bind (fun chg -> runSimple ops chg ccs)
        let viaJoint = start |> Result.bind (fun chg -> runJoint ops chg ccs)
        return
            match viaSimple, viaJoint with
            | Ok a, Ok b -> a.Tracker = b.Tracker
            | _ -> false
    }

// ---- Restore -----------------------------------------------------------------------------------

/// A random valid ConfState, as etcd's rndConfChange: voters, learners and removed (outgoing-only)
/// voters are disjoint; some incoming voters were outgoing voters too; some removed voters are
/// staged learners.
let private genConfState =
    gen {
        let! nVoters = Gen.int32 (Range.constant 1 5)
        let! nLearners = Gen.int32 (Range.constant 0 4)
        let! nRemoved = Gen.int32 (Range.constant 0 2)
        let! ids = Gen.shuffle [ 1UL .. uint64 (2 * (nVoters + nLearners + nRemoved)) ]
        let voters = List.take nVoters ids
        let learners = ids |> List.skip nVoters |> List.take nLearners
        let removed = ids |> List.skip (nVoters + nLearners) |> List.take nRemoved
        let! nRetained = Gen.int32 (Range.constant 0 nVoters)
        let outgoing = List.take nRetained voters @ removed
        let! nNext = Gen.int32 (Range.constant 0 nRemoved)
        let! autoLeave = Gen.item [ false; true ]
        return
            { Voters = voters
              Learners = learners
              VotersOutgoing = outgoing
              LearnersNext = List.take nNext removed
              AutoLeave = autoLeave && not outgoing.IsEmpty }
    }

let private sorted (cs: ConfState) =
    { cs with
        Voters = List.sort cs.Voters
        Learners = List.sort cs.Learners
        VotersOutgoing = List.sort cs.VotersOutgoing
        LearnersNext = List.sort cs.LearnersNext }

type private RestoreFn = Changer -> ConfState -> Result<TrackerConfig * ProgressMap, string>

/// Restoring a ConfState and reading it back gives the same ConfState (ids sorted).
let private roundTrips (restore: RestoreFn) (cs: ConfState) =
    let chg = { Tracker = ProgressTracker.make 20; LastIndex = 10UL }
    match restore chg cs with
    | Ok(cfg, prs) -> ProgressTracker.confState (ProgressTracker.withConfig cfg prs chg.Tracker) = sorted cs
    | Error _ -> false

let private restoreRoundTrips (restore: RestoreFn) =
    property {
        let! cs = genConfState
        return roundTrips restore cs
    }

[<Tests>]
let tests =
    testList "ConfChange" [
        testCase "simple and joint changes reach the same config" <| fun () ->
            simpleMatchesJoint realOps |> Hog.holdsBool

        testCase "the simple-vs-joint property catches leaving a joint config without its staged learners" <| fun () ->
            let dropStaged (chg: Changer) =
                Changer.leaveJoint { chg with Tracker = { chg.Tracker with Config = { chg.Tracker.Config with LearnersNext = MajorityConfig.empty } } }
            Expect.isTrue (Hog.caughtBool (simpleMatchesJoint { realOps with LeaveJoint = dropStaged })) "the broken variant is caught"

        testCase "the simple-vs-joint property catches a demotion that forgets the peer" <| fun () ->
            let forgetDemoted (ccs: ConfChangeSingle list) (chg: Changer) =
                let ccs =
                    ccs |> List.map (fun c ->
                        if c.Type = ConfChangeAddLearnerNode && chg.Tracker.Config.Voters.Incoming.Contains c.NodeID then
                            { c with Type = ConfChangeRemoveNode }
                        else c)
                Changer.simple ccs chg
            Expect.isTrue (Hog.caughtBool (simpleMatchesJoint { realOps with Simple = forgetDemoted })) "the broken variant is caught"

        testCase "restore then confState round-trips" <| fun () ->
            let ids (xs: uint64 list) = xs
            for cs in
                [ Pb.emptyConfState
                  { Pb.emptyConfState with Voters = ids [ 1UL; 2UL; 3UL ] }
                  { Pb.emptyConfState with Voters = ids [ 1UL; 2UL; 3UL ]; Learners = ids [ 4UL; 5UL; 6UL ] }
                  { Voters = ids [ 1UL; 2UL; 3UL ]; Learners = ids [ 5UL ]; VotersOutgoing = ids [ 1UL; 2UL; 4UL; 6UL ]; LearnersNext = ids [ 4UL ]; AutoLeave = false } ] do
                Expect.isTrue (roundTrips Restore.restore cs) (sprintf "%A" cs)
            restoreRoundTrips Restore.restore |> Hog.holdsBool

        testCase "the restore property catches a restore that never enters the joint config" <| fun () ->
            let broken: RestoreFn =
                fun chg cs ->
                    let outgoing, incoming = Restore.toConfChangeSingle cs
                    (outgoing @ incoming)
                    |> List.fold
                        (fun acc c -> acc |> Result.bind (fun chg -> Changer.simple [ c ] chg |> Result.map (install chg)))
                        (Ok chg)
                    |> Result.map (fun chg -> chg.Tracker.Config, chg.Tracker.Progress)
            Expect.isTrue (Hog.caughtBool (restoreRoundTrips broken)) "the broken variant is caught"

        testCase "restored peers start probing at the last index and count as active" <| fun () ->
            let chg = { Tracker = ProgressTracker.make 20; LastIndex = 7UL }
            match Restore.restore chg { Pb.emptyConfState with Voters = [ 1UL; 2UL ]; Learners = [ 3UL ] } with
            | Error e -> failtest e
            | Ok(cfg, prs) ->
                Expect.equal (TrackerConfig.toString cfg) ("voters=(1 2) learners=(3)") "TrackerConfig.toString cfg"
                Expect.equal (ProgressMap.toString prs) ("1: StateProbe match=0 next=7\n2: StateProbe match=0 next=7\n3: StateProbe match=0 next=7 learner\n") "ProgressMap.toString prs"
                Expect.equal prs[1UL].Inflights.Size 20 "prs[1UL].Inflights.Size"

        testCase "the changer leaves its tracker untouched and skips zero node ids" <| fun () ->
            let chg = { Tracker = ProgressTracker.make 10; LastIndex = 1UL }
            let chg = Changer.simple [ cc ConfChangeAddNode 1UL ] chg |> Result.map (install chg) |> Result.defaultWith failwith
            let before = chg.Tracker
            match Changer.enterJoint false [ cc ConfChangeAddNode 2UL; cc ConfChangeRemoveNode 0UL; cc ConfChangeAddLearnerNode 1UL ] chg with
            | Error e -> failtest e
            | Ok(cfg, _) -> Expect.equal (TrackerConfig.toString cfg) ("voters=(2)&&(1) learners_next=(1)") "TrackerConfig.toString cfg"
            Expect.equal chg.Tracker before "chg.Tracker"
            Expect.equal (Changer.leaveJoint chg |> Result.map ignore) (Error "can't leave a non-joint config") "Changer.leaveJoint chg |> Result.map ignore"
            Expect.equal (Changer.describe [ cc ConfChangeAddNode 1UL; cc ConfChangeRemoveNode 2UL ]) ("ConfChangeAddNode(1) ConfChangeRemoveNode(2)") "changes print as Type(NodeID)"
    ]
