/// Membership changes through the log: single-step (v1 and simple v2) and joint (v2, left
/// automatically or explicitly), one at a time; and learners, which replicate without voting.
module Raft.Core.Tests.ConfChangeBehaviourTests

open Expecto
open Raft.Core
open Raft.Core.Tests.Cluster

let private ids = [ 1UL; 2UL; 3UL ]

let private v1 (t: ConfChangeType) (node: uint64) = V1 { ID = 0UL; Type = t; NodeID = node; Context = [||] }

let private v2 (transition: ConfChangeTransition) (changes: (ConfChangeType * uint64) list) =
    V2
        { Transition = transition
          Changes = changes |> List.map (fun (t, n) -> { Type = t; NodeID = n })
          Context = [||] }

let private propose (id: uint64) (cc: ConfChangeI) (net: Net) =
    match Net.proposeConfChange id cc net with
    | net, Ok() -> net
    | _, Error e -> failwithf "conf change refused: %s" (RaftError.message e)

let private voters (id: uint64) (net: Net) = (Net.get id net).ConfState.Voters |> List.sort
let private config (id: uint64) (net: Net) = (Net.raft id net).Prs.Config

/// Whether a proposal at the leader commits while only `reachable` members can be reached.
let private commitsWith (reachable: uint64 list) (net: Net) =
    let others = net.Members |> Map.toList |> List.map fst |> List.filter (fun id -> not (List.contains id reachable))
    let net = net |> Net.isolate others
    let before = (Net.raft 1UL net).RaftLog.Committed
    let net = net |> Net.proposeOk 1UL "probe" |> Net.stabilize
    (Net.raft 1UL net).RaftLog.Committed > before

[<Tests>]
let tests =
    testList "ConfChangeBehaviour" [
        testCase "a v1 change adds a voter that catches up and then counts towards the quorum" <| fun () ->
            let net =
                Net.create ids
                |> Net.elect 1UL
                |> Net.proposeOk 1UL "a"
                |> Net.addMember (Config.defaults 4UL)
                |> propose 1UL (v1 ConfChangeAddNode 4UL)
                |> Net.stabilize
            for id in 1UL .. 4UL do
                Expect.equal (voters id net) ([ 1UL; 2UL; 3UL; 4UL ]) "voters id net"
            // It caught up by snapshot (its log holds nothing older than its first commit).
            Expect.equal (Member.appliedIndex (Net.get 4UL net)) (Member.appliedIndex (Net.get 1UL net)) "Member.appliedIndex (Net.get 4UL net)"
            Expect.isTrue ((Net.get 4UL net).SnapshotIndex >= 3UL) "(Net.get 4UL net).SnapshotIndex >= 3UL"
            // Four voters: two are no quorum any more, three are.
            Expect.isFalse (commitsWith [ 1UL; 2UL ] net) "commitsWith [ 1UL; 2UL ] net"
            Expect.isTrue (commitsWith [ 1UL; 2UL; 4UL ] net) "commitsWith [ 1UL; 2UL; 4UL ] net"

        testCase "a removed voter no longer counts and is no longer sent anything" <| fun () ->
            let net = Net.create ids |> Net.elect 1UL |> propose 1UL (v1 ConfChangeRemoveNode 3UL) |> Net.stabilize
            Expect.equal (voters 1UL net) ([ 1UL; 2UL ]) "voters 1UL net"
            Expect.isFalse ((Net.raft 1UL net).Prs.Progress.ContainsKey 3UL) "(Net.raft 1UL net).Prs.Progress.ContainsKey 3UL"
            let net, sent = net |> Net.proposeOk 1UL "x" |> Net.stabilizeRecording
            Expect.isFalse (sent |> Seq.exists (fun m -> m.To = 3UL)) "no message to node 3"
            Expect.equal (Net.appliedData 2UL net) ([ "x" ]) "Net.appliedData 2UL net"
            // With two voters both are needed.
            Expect.isFalse (commitsWith [ 1UL ] net) "commitsWith [ 1UL ] net"

        testCase "a joint change with automatic transition is left without being asked" <| fun () ->
            let net =
                Net.create ids
                |> Net.elect 1UL
                |> Net.addMember (Config.defaults 4UL)
                |> propose 1UL (v2 ConfChangeTransitionAuto [ ConfChangeAddNode, 4UL; ConfChangeRemoveNode, 3UL ])
                |> Net.stabilize
                // The leader appends the leaving entry when it applies the joint config; like etcd 3.5,
                // it goes out with the next append, here after a heartbeat.
                |> Net.tick 1UL
                |> Net.stabilize
            let cfg = config 1UL net
            Expect.isFalse (JointConfig.isJoint cfg.Voters) "JointConfig.isJoint cfg.Voters"
            Expect.isFalse cfg.AutoLeave "cfg.AutoLeave"
            Expect.equal (voters 1UL net) ([ 1UL; 2UL; 4UL ]) "voters 1UL net"
            Expect.equal (voters 4UL net) ([ 1UL; 2UL; 4UL ]) "voters 4UL net"
            // The leader proposed the empty ConfChangeV2 that leaves the joint configuration.
            let confEntries = Member.entries (Net.get 1UL net) |> Array.filter (fun e -> e.Type = EntryConfChangeV2)
            Expect.equal confEntries.Length 2 "confEntries.Length"
            Expect.equal (Codec.confChangeOfEntry confEntries[1]) (Some(Ok(V2 { Transition = ConfChangeTransitionAuto; Changes = []; Context = [||] }))) "Codec.confChangeOfEntry confEntries[1]"

        testCase "an explicit joint change stays joint until the application leaves it" <| fun () ->
            let net =
                Net.create ids
                |> Net.elect 1UL
                |> Net.addMember (Config.defaults 4UL)
                |> propose 1UL (v2 ConfChangeTransitionJointExplicit [ ConfChangeAddNode, 4UL; ConfChangeRemoveNode, 3UL ])
                |> Net.stabilize
                |> Net.tickAll 5
            Expect.isTrue (JointConfig.isJoint (config 1UL net).Voters) "JointConfig.isJoint (config 1UL net).Voters"
            let cs = (Net.get 1UL net).ConfState
            Expect.equal (List.sort cs.VotersOutgoing) ([ 1UL; 2UL; 3UL ]) "List.sort cs.VotersOutgoing"
            // Joint: a majority of both halves is needed. n1 and n4 are one of the new half only.
            Expect.isFalse (commitsWith [ 1UL; 4UL ] net) "commitsWith [ 1UL; 4UL ] net"
            Expect.isTrue (commitsWith [ 1UL; 2UL ] net) "commitsWith [ 1UL; 2UL ] net"
            // Any change but leaving is refused (it becomes an empty entry).
            let net = net |> Net.heal |> propose 1UL (v1 ConfChangeRemoveNode 2UL) |> Net.stabilize
            Expect.isTrue (JointConfig.isJoint (config 1UL net).Voters) "JointConfig.isJoint (config 1UL net).Voters"
            let net = net |> propose 1UL (v2 ConfChangeTransitionAuto []) |> Net.stabilize |> Net.tick 1UL |> Net.stabilize
            Expect.isFalse (JointConfig.isJoint (config 1UL net).Voters) "JointConfig.isJoint (config 1UL net).Voters"
            Expect.equal (voters 2UL net) ([ 1UL; 2UL; 4UL ]) "voters 2UL net"
            Expect.isTrue (commitsWith [ 1UL; 4UL ] net) "commitsWith [ 1UL; 4UL ] net"

        testCase "only one conf change may be pending: a second one before the first is applied becomes an empty entry" <| fun () ->
            let net = Net.create ids |> Net.elect 1UL
            let net = net |> propose 1UL (v1 ConfChangeRemoveNode 3UL) |> propose 1UL (v1 ConfChangeRemoveNode 2UL)
            let last = Member.entries (Net.get 1UL net) |> Array.last
            Expect.equal (last.Type, last.Data.Length) (EntryNormal, 0) "(last.Type, last.Data.Length)"
            let net = Net.stabilize net
            Expect.equal (voters 1UL net) ([ 1UL; 2UL ]) "voters 1UL net"
            // Once applied, the next one is accepted.
            let net = net |> propose 1UL (v1 ConfChangeRemoveNode 2UL) |> Net.stabilize
            Expect.equal (voters 1UL net) ([ 1UL ]) "voters 1UL net"

        testCase "a learner replicates the log but neither votes, campaigns, nor counts towards the quorum" <| fun () ->
            let net =
                Net.create ids
                |> Net.elect 1UL
                |> Net.addMember (Config.defaults 4UL)
                |> propose 1UL (v2 ConfChangeTransitionAuto [ ConfChangeAddLearnerNode, 4UL ])
                |> Net.stabilize
                |> Net.proposeOk 1UL "a"
                |> Net.stabilize
            Expect.equal ((Net.get 4UL net).ConfState.Learners) ([ 4UL ]) "(Net.get 4UL net).ConfState.Learners"
            // It caught up by snapshot (its log holds nothing older than its first commit).
            Expect.equal (Member.appliedIndex (Net.get 4UL net)) (Member.appliedIndex (Net.get 1UL net)) "Member.appliedIndex (Net.get 4UL net)"
            Expect.isTrue ((Net.get 4UL net).SnapshotIndex >= 3UL) "(Net.get 4UL net).SnapshotIndex >= 3UL"
            Expect.isTrue ((Net.raft 4UL net).IsLearner) "(Net.raft 4UL net).IsLearner"
            Expect.isFalse (commitsWith [ 1UL; 4UL ] net) "commitsWith [ 1UL; 4UL ] net"
            // The learner never campaigns, however long it hears nothing.
            let quiet = net |> Net.isolate [ 4UL ] |> Net.ticks 4UL 100
            Expect.equal ((Net.raft 4UL quiet).State) StateFollower "(Net.raft 4UL quiet).State"
            Expect.isEmpty ((RawNode.peekReady (Net.get 4UL quiet).Rn).Messages) "(RawNode.peekReady (Net.get 4UL quiet).Rn).Messages"
            // Candidates do not ask learners for votes.
            let net, sent = net |> Net.campaign 2UL |> Net.stabilizeRecording
            Expect.isFalse (sent |> Seq.exists (fun m -> m.Type = MsgVote && m.To = 4UL)) "no MsgVote to node 4"
            Expect.equal (Net.leaders net) ([ 2UL ]) "Net.leaders net"

        testCase "a learner promoted to voter counts towards the quorum" <| fun () ->
            let net =
                Net.createWith id [ 1UL; 2UL ] [ 3UL ]
                |> Net.elect 1UL
                |> propose 1UL (v1 ConfChangeAddNode 3UL)
                |> Net.stabilize
            Expect.equal (voters 3UL net) ([ 1UL; 2UL; 3UL ]) "voters 3UL net"
            Expect.isFalse ((Net.raft 3UL net).IsLearner) "(Net.raft 3UL net).IsLearner"
            Expect.isTrue (commitsWith [ 1UL; 3UL ] net) "commitsWith [ 1UL; 3UL ] net"
    ]
