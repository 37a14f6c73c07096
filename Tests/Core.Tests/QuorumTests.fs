/// Properties of majority and joint quorums, after etcd's quorum/quick_test.go, each shown to
/// catch a deliberately broken variant.
module Raft.Core.Tests.QuorumTests

open System
open FsCheck
open FsCheck.FSharp
open Xunit
open Raft.Core
open Raft.Core.Tests.PropertyCheck

/// etcd's smallRandIdxMap: up to 9 distinct ids below 2n with indexes below n.
let private genIdxMap =
    gen {
        let! n = Gen.choose (0, 9)
        let! ids = Gen.shuffle [| 0 .. 2 * n - 1 |]
        let! idxs = Gen.arrayOfLength n (Gen.choose (0, max 0 (n - 1)))
        return Array.zip (Array.truncate n ids) idxs |> Array.map (fun (id, i) -> uint64 id, uint64 i) |> Map.ofArray
    }

/// A config and an independent map of acknowledged indexes (some voters unknown, some extra ids).
let private genConfigAndAcks =
    Gen.map2 (fun (m: Map<uint64, uint64>) acks -> MajorityConfig.ofSeq m.Keys, acks) genIdxMap genIdxMap

let private arbConfigAndAcks = Arb.fromGen genConfigAndAcks

type private Committed = MajorityConfig -> AckedIndexer -> uint64

/// Agrees with the simple alternative computation used by the etcd harness.
let private agreesWithAlternative (impl: Committed) =
    Prop.forAll arbConfigAndAcks (fun (c, acks) ->
        let l = Quorum.ackedIndexerOfMap acks
        impl c l = QuorumHarness.alternativeMajorityCommittedIndex c l)

let private real: Committed = fun c l -> MajorityConfig.committedIndex l c

[<Fact>]
let ``majority committed index agrees with a simple alternative`` () =
    agreesWithAlternative real |> holds

[<Fact>]
let ``the committed-index property catches a quorum that counts unknown voters as acknowledged`` () =
    let broken: Committed =
        fun c l ->
            MajorityConfig.committedIndex (fun id -> match l id with ValueNone -> ValueSome UInt64.MaxValue | v -> v) c
    Assert.True(caught (agreesWithAlternative broken))

[<Fact>]
let ``the committed-index property catches a quorum of half the voters`` () =
    // The largest index acknowledged by n/2 voters: too high for even-sized configs.
    let broken: Committed =
        fun c l ->
            if MajorityConfig.isEmpty c then Quorum.infinity
            else
                let acked = MajorityConfig.toList c |> List.map (fun id -> ValueOption.defaultValue 0UL (l id)) |> List.sortDescending
                acked[max 0 (MajorityConfig.count c / 2 - 1)]
    Assert.True(caught (agreesWithAlternative broken))

type private JointCommitted = JointConfig -> AckedIndexer -> uint64

/// Joint commit = the smaller of the halves' majority commits, and symmetric in the halves.
let private jointIsMinOfHalves (impl: JointCommitted) =
    let gen = Gen.map3 (fun (a, acks) (b, _) swap -> a, b, acks, swap) genConfigAndAcks genConfigAndAcks (Gen.elements [ false; true ])
    Prop.forAll (Arb.fromGen gen) (fun (a, b, acks, _) ->
        let l = Quorum.ackedIndexerOfMap acks
        let j = impl { Incoming = a; Outgoing = b } l
        j = min (MajorityConfig.committedIndex l a) (MajorityConfig.committedIndex l b)
        && j = impl { Incoming = b; Outgoing = a } l)

[<Fact>]
let ``joint committed index is the minimum of its halves`` () =
    jointIsMinOfHalves (fun c l -> JointConfig.committedIndex l c) |> holds

[<Fact>]
let ``the joint-commit property catches a joint quorum that only consults the incoming half`` () =
    let broken: JointCommitted = fun c l -> MajorityConfig.committedIndex l c.Incoming
    Assert.True(caught (jointIsMinOfHalves broken))

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
        |> List.map (fun id -> Gen.elements [ None; Some true; Some false ] |> Gen.map (fun v -> id, v))
        |> Gen.sequenceToList
        |> Gen.map (List.choose (fun (id, v) -> v |> Option.map (fun v -> id, v)) >> Map.ofList)
    let gen =
        gen {
            let! a, _ = genConfigAndAcks
            let! b, _ = genConfigAndAcks
            let! joint = Gen.elements [ false; true ]
            let cfg = { Incoming = a; Outgoing = (if joint then b else MajorityConfig.empty) }
            let! votes = genVotes (JointConfig.ids cfg |> MajorityConfig.toList)
            return cfg, votes
        }
    Prop.forAll (Arb.fromGen gen) (fun (cfg, votes) ->
        let outcomes =
            completions (JointConfig.ids cfg |> MajorityConfig.toList) votes
            |> List.map (fun v -> majorityWins cfg.Incoming v && majorityWins cfg.Outgoing v)
            |> List.distinct
        let expected =
            match outcomes with
            | [ true ] -> VoteWon
            | [ false ] -> VoteLost
            | _ -> VotePending
        impl cfg votes = expected)

[<Fact>]
let ``vote results agree with every way of completing the vote`` () =
    voteMatchesCompletions (fun c v -> JointConfig.voteResult v c) |> holds

[<Fact>]
let ``the vote property catches a majority where a tie wins`` () =
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
    Assert.True(caught (voteMatchesCompletions broken))

[<Fact>]
let ``the vote property catches a joint vote that is won when either half wins`` () =
    let broken (c: JointConfig) votes =
        match MajorityConfig.voteResult votes c.Incoming, MajorityConfig.voteResult votes c.Outgoing with
        | VoteWon, _ | _, VoteWon -> VoteWon
        | r1, r2 when r1 = r2 -> r1
        | _ -> VotePending
    Assert.True(caught (voteMatchesCompletions broken))

[<Fact>]
let ``configs print as etcd prints them`` () =
    let c = MajorityConfig.ofSeq [ 3UL; 1UL; 2UL; 1UL ]
    Assert.Equal("(1 2 3)", MajorityConfig.toString c)
    Assert.Equal("()", MajorityConfig.toString MajorityConfig.empty)
    Assert.Equal("(1 2 3)&&(4)", JointConfig.toString { Incoming = c; Outgoing = MajorityConfig.ofSeq [ 4UL ] })
    Assert.Equal("(1 2 3)", JointConfig.toString (JointConfig.ofIncoming c))
    Assert.Equal("∞", Quorum.indexString Quorum.infinity)

[<Fact>]
let ``configs are sets: adding twice or removing a stranger changes nothing`` () =
    let c = MajorityConfig.ofSeq [ 1UL; 3UL ]
    Assert.Equal(MajorityConfig.ofSeq [ 1UL; 2UL; 3UL ], c |> MajorityConfig.add 2UL |> MajorityConfig.add 2UL)
    Assert.Equal(c, MajorityConfig.remove 7UL c)
    Assert.Equal<uint64 list>([ 3UL ], c |> MajorityConfig.remove 1UL |> MajorityConfig.toList)
    Assert.True(MajorityConfig.contains 3UL c)
    Assert.False(MajorityConfig.contains 2UL c)

[<Fact>]
let ``committed index handles more than seven voters`` () =
    let c = MajorityConfig.ofSeq [ 1UL .. 9UL ]
    let acks = Map.ofList [ for id in 1UL .. 9UL -> id, id * 10UL ]
    // Five of nine voters have acknowledged 50 or more.
    Assert.Equal(50UL, MajorityConfig.committedIndex (Quorum.ackedIndexerOfMap acks) c)
