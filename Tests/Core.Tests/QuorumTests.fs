/// Properties of majority and joint quorums, after etcd's quorum/quick_test.go, each shown to
/// catch a deliberately broken variant.
module Raft.Core.Tests.QuorumTests

open System
open Expecto
open Hedgehog
open Hedgehog.FSharp
open Raft.Core
open Raft.Core.Tests.PropertyCheck

/// etcd's smallRandIdxMap: up to 9 distinct ids below 2n with indexes below n.
let private genIdxMap =
    gen {
        let! n = Gen.int32 (Range.constant 0 9)
        let! ids = Gen.shuffle [ 0 .. 2 * n - 1 ]
        let! idxs = Gen.list (Range.singleton n) (Gen.int32 (Range.constant 0 (max 0 (n - 1))))
        return List.zip (List.truncate n ids) idxs |> List.map (fun (id, i) -> uint64 id, uint64 i) |> Map.ofList
    }

/// A config and an independent map of acknowledged indexes (some voters unknown, some extra ids).
let private genConfigAndAcks =
    gen {
        let! (m: Map<uint64, uint64>) = genIdxMap
        let! acks = genIdxMap
        return MajorityConfig.ofSeq m.Keys, acks
    }

type private Committed = MajorityConfig -> AckedIndexer -> uint64

/// Agrees with the simple alternative computation used by the etcd harness.
let private agreesWithAlternative (impl: Committed) =
    property {
        let! c, acks = genConfigAndAcks
        let l = Quorum.ackedIndexerOfMap acks
        return impl c l = QuorumHarness.alternativeMajorityCommittedIndex c l
    }

let private real: Committed = fun c l -> MajorityConfig.committedIndex l c

type private JointCommitted = JointConfig -> AckedIndexer -> uint64

/// Joint commit = the smaller of the halves' majority commits, and symmetric in the halves.
let private jointIsMinOfHalves (impl: JointCommitted) =
    property {
        let! a, acks = genConfigAndAcks
        let! b, _ = genConfigAndAcks
        let l = Quorum.ackedIndexerOfMap acks
        let j = impl { Incoming = a; Outgoing = b } l
        return
            j = min (MajorityConfig.committedIndex l a) (MajorityConfig.committedIndex l b)
            && j = impl { Incoming = b; Outgoing = a } l
    }

/// Every way of filling in the missing votes of `voters`.
let private completions (voters: uint64 list) (votes: Map<uint64, bool>) =
    let missing = voters |> List.filter (fun id -> not (votes.ContainsKey id))
    let rec go ids (acc: Map<uint64, bool>) =
        match ids with
        | [] -> [ acc ]
        | id :: rest -> go rest (acc.Add(id, true)) @ go rest (acc.Add(id, false))
    go missing votes

/// A complete vote wins in a majority config when more than half voted yes.
let private majorityWins (c: MajorityConfig) (votes: Map<uint64, bool>) =
    let yes = MajorityConfig.toList c |> List.filter (fun id -> votes[id]) |> List.length
    MajorityConfig.isEmpty c || 2 * yes > MajorityConfig.count c

/// A vote is won when every way of completing it wins, lost when every way loses, else pending.
let private voteMatchesCompletions (impl: JointConfig -> Map<uint64, bool> -> VoteResult) =
    let genVotes (ids: uint64 list) =
        ids
        |> List.map (fun id -> Gen.item [ None; Some true; Some false ] |> Gen.map (fun v -> id, v))
        |> Gen.sequenceList
        |> Gen.map (List.choose (fun (id, v) -> v |> Option.map (fun v -> id, v)) >> Map.ofList)
    property {
        let! a, _ = genConfigAndAcks
        let! b, _ = genConfigAndAcks
        let! joint = Gen.item [ false; true ]
        let cfg = { Incoming = a; Outgoing = (if joint then b else MajorityConfig.empty) }
        let! votes = genVotes (JointConfig.ids cfg |> MajorityConfig.toList)
        let outcomes =
            completions (JointConfig.ids cfg |> MajorityConfig.toList) votes
            |> List.map (fun v -> majorityWins cfg.Incoming v && majorityWins cfg.Outgoing v)
            |> List.distinct
        let expected =
            match outcomes with
            | [ true ] -> VoteWon
            | [ false ] -> VoteLost
            | _ -> VotePending
        return impl cfg votes = expected
    }

[<Tests>]
let tests =
    testList "Quorum" [
        testCase "majority committed index agrees with a simple alternative" <| fun () ->
            agreesWithAlternative real |> Hog.holdsBool

        testCase "the committed-index property catches a quorum that counts unknown voters as acknowledged" <| fun () ->
            let broken: Committed =
                fun c l ->
                    MajorityConfig.committedIndex (fun id -> match l id with ValueNone -> ValueSome UInt64.MaxValue | v -> v) c
            Expect.isTrue (Hog.caughtBool (agreesWithAlternative broken)) "the broken variant is caught"

        testCase "the committed-index property catches a quorum of half the voters" <| fun () ->
            // The largest index acknowledged by n/2 voters: too high for even-sized configs.
            let broken: Committed =
                fun c l ->
                    if MajorityConfig.isEmpty c then Quorum.infinity
                    else
                        let acked = MajorityConfig.toList c |> List.map (fun id -> ValueOption.defaultValue 0UL (l id)) |> List.sortDescending
                        acked[max 0 (MajorityConfig.count c / 2 - 1)]
            Expect.isTrue (Hog.caughtBool (agreesWithAlternative broken)) "the broken variant is caught"

        testCase "joint committed index is the minimum of its halves" <| fun () ->
            jointIsMinOfHalves (fun c l -> JointConfig.committedIndex l c) |> Hog.holdsBool

        testCase "the joint-commit property catches a joint quorum that only consults the incoming half" <| fun () ->
            let broken: JointCommitted = fun c l -> MajorityConfig.committedIndex l c.Incoming
            Expect.isTrue (Hog.caughtBool (jointIsMinOfHalves broken)) "the broken variant is caught"

        testCase "vote results agree with every way of completing the vote" <| fun () ->
            voteMatchesCompletions (fun c v -> JointConfig.voteResult v c) |> Hog.holdsBool

        testCase "the vote property catches a majority where a tie wins" <| fun () ->
            let tieWins (c: MajorityConfig) (votes: Map<uint64, bool>) =
                let ids = MajorityConfig.toList c
                let yes = ids |> List.filter (fun id -> votes.TryFind id = Some true) |> List.length
                let missing = ids |> List.filter (fun id -> not (votes.ContainsKey id)) |> List.length
                let q = max 1 (ids.Length / 2)
                if ids.IsEmpty || yes >= q then VoteWon elif yes + missing >= q then VotePending else VoteLost
            let broken (c: JointConfig) votes =
                match tieWins c.Incoming votes, tieWins c.Outgoing votes with
                | r1, r2 when r1 = r2 -> r1
                | VoteLost, _ | _, VoteLost -> VoteLost
                | _ -> VotePending
            Expect.isTrue (Hog.caughtBool (voteMatchesCompletions broken)) "the broken variant is caught"

        testCase "the vote property catches a joint vote that is won when either half wins" <| fun () ->
            let broken (c: JointConfig) votes =
                match MajorityConfig.voteResult votes c.Incoming, MajorityConfig.voteResult votes c.Outgoing with
                | VoteWon, _ | _, VoteWon -> VoteWon
                | r1, r2 when r1 = r2 -> r1
                | _ -> VotePending
            Expect.isTrue (Hog.caughtBool (voteMatchesCompletions broken)) "the broken variant is caught"

        testCase "configs print as etcd prints them" <| fun () ->
            let c = MajorityConfig.ofSeq [ 3UL; 1UL; 2UL; 1UL ]
            Expect.equal (MajorityConfig.toString c) ("(1 2 3)") "MajorityConfig.toString c"
            Expect.equal (MajorityConfig.toString MajorityConfig.empty) ("()") "MajorityConfig.toString MajorityConfig.empty"
            Expect.equal (JointConfig.toString { Incoming = c; Outgoing = MajorityConfig.ofSeq [ 4UL ] }) ("(1 2 3)&&(4)") "a joint config prints both halves"
            Expect.equal (JointConfig.toString (JointConfig.ofIncoming c)) ("(1 2 3)") "JointConfig.toString (JointConfig.ofIncoming c)"
            Expect.equal (Quorum.indexString Quorum.infinity) ("∞") "Quorum.indexString Quorum.infinity"

        testCase "configs are sets: adding twice or removing a stranger changes nothing" <| fun () ->
            let c = MajorityConfig.ofSeq [ 1UL; 3UL ]
            Expect.equal (c |> MajorityConfig.add 2UL |> MajorityConfig.add 2UL) (MajorityConfig.ofSeq [ 1UL; 2UL; 3UL ]) "c |> MajorityConfig.add 2UL |> MajorityConfig.add 2UL"
            Expect.equal (MajorityConfig.remove 7UL c) c "MajorityConfig.remove 7UL c"
            Expect.equal (c |> MajorityConfig.remove 1UL |> MajorityConfig.toList) ([ 3UL ]) "c |> MajorityConfig.remove 1UL |> MajorityConfig.toList"
            Expect.isTrue (MajorityConfig.contains 3UL c) "MajorityConfig.contains 3UL c"
            Expect.isFalse (MajorityConfig.contains 2UL c) "MajorityConfig.contains 2UL c"

        testCase "committed index handles more than seven voters" <| fun () ->
            let c = MajorityConfig.ofSeq [ 1UL .. 9UL ]
            let acks = Map.ofList [ for id in 1UL .. 9UL -> id, id * 10UL ]
            // Five of nine voters have acknowledged 50 or more.
            Expect.equal (MajorityConfig.committedIndex (Quorum.ackedIndexerOfMap acks) c) 50UL "MajorityConfig.committedIndex (Quorum.ackedIndexerOfMap acks) c"
    ]
