/// Inflights, Progress and ProgressTracker, after etcd's tracker tests.
module Raft.Core.Tests.TrackerTests

open FsCheck
open FsCheck.FSharp
open Xunit
open Raft.Core
open Raft.Core.Tests.PropertyCheck

let private addAll (xs: uint64 seq) ins = Seq.fold (fun i x -> Inflights.add x i) ins xs

// ---- Inflights ---------------------------------------------------------------------------------

[<Fact>]
let ``inflights add up to the limit and then are full`` () =
    let ins = Inflights.create 10 |> addAll [ 0UL .. 4UL ]
    Assert.Equal(5, Inflights.count ins)
    Assert.False(Inflights.full ins)
    let ins = ins |> addAll [ 5UL .. 9UL ]
    Assert.Equal(10, Inflights.count ins)
    Assert.True(Inflights.full ins)
    Assert.Equal<uint64 list>([ 0UL .. 9UL ], Inflights.toList ins)
    Assert.True(throws (fun () -> Inflights.add 10UL ins |> ignore))

[<Fact>]
let ``freeLE frees a prefix and keeps the rest across wraparound`` () =
    let ins = Inflights.create 10 |> addAll [ 0UL .. 9UL ]
    let ins = Inflights.freeLE 4UL ins
    Assert.Equal<uint64 list>([ 5UL .. 9UL ], Inflights.toList ins)
    let ins = Inflights.freeLE 8UL ins
    Assert.Equal<uint64 list>([ 9UL ], Inflights.toList ins)
    // More than the size in total has now been added: the window wraps around.
    let ins = ins |> addAll [ 10UL .. 14UL ]
    Assert.Equal(6, Inflights.count ins)
    let ins = Inflights.freeLE 12UL ins
    Assert.Equal<uint64 list>([ 13UL; 14UL ], Inflights.toList ins)
    let ins = Inflights.freeLE 14UL ins
    Assert.Equal(0, Inflights.count ins)
    // Freeing below the window, or on an empty one, is a no-op.
    let ins2 = Inflights.create 10 |> addAll [ 5UL; 6UL ]
    Assert.Equal(ins2, Inflights.freeLE 4UL ins2)
    Assert.Equal(Inflights.create 10, Inflights.freeLE 100UL (Inflights.create 10))

[<Fact>]
let ``freeFirstOne frees the oldest`` () =
    let ins = Inflights.create 10 |> addAll [ 0UL .. 9UL ] |> Inflights.freeFirstOne
    Assert.Equal<uint64 list>([ 1UL .. 9UL ], Inflights.toList ins)
    Assert.False(Inflights.full ins)
    Assert.Equal(Inflights.create 3, Inflights.freeFirstOne (Inflights.create 3))

[<Fact>]
let ``old inflights values are unaffected by later operations`` () =
    let a = Inflights.create 4 |> addAll [ 1UL; 2UL ]
    let b = a |> Inflights.add 3UL |> Inflights.freeLE 2UL
    Assert.Equal<uint64 list>([ 1UL; 2UL ], Inflights.toList a)
    Assert.Equal<uint64 list>([ 3UL ], Inflights.toList b)

/// The operations a model check drives; a broken variant substitutes one of them.
type private InflightsOps =
    { Add: uint64 -> Inflights -> Inflights
      FreeLE: uint64 -> Inflights -> Inflights
      FreeFirstOne: Inflights -> Inflights }

let private realOps =
    { Add = Inflights.add
      FreeLE = Inflights.freeLE
      FreeFirstOne = Inflights.freeFirstOne }

type private Op =
    | Add of uint64
    | FreeLE of uint64
    | FreeFirst
    | Reset

/// Random operation sequences behave like a bounded list: adds append increasing indexes while not
/// full, freeLE drops the prefix <= i, freeFirstOne drops the items equal to the oldest.
let private behavesLikeAList (ops: InflightsOps) =
    let genOp = Gen.frequency [ 5, Gen.choose (0, 3) |> Gen.map (uint64 >> Add); 2, Gen.choose (0, 40) |> Gen.map (uint64 >> FreeLE); 1, Gen.constant FreeFirst; 1, Gen.constant Reset ]
    let gen = Gen.map2 (fun size ops -> size, ops) (Gen.choose (1, 8)) (Gen.listOf genOp)
    Prop.forAll (Arb.fromGen gen) (fun (size, steps) ->
        let step (ins: Inflights, model: uint64 list, last: uint64, ok: bool) op =
            match op with
            | Add step when List.length model < size ->
                // Increasing (or repeated) indexes, as the leader adds them.
                let x = last + step
                ops.Add x ins, model @ [ x ], x, ok
            | Add _ -> ins, model, last, ok && Inflights.full ins
            | FreeLE i ->
                let i = last - min last i
                ops.FreeLE i ins, List.skipWhile (fun x -> x <= i) model, last, ok
            | FreeFirst ->
                let model' = match model with first :: _ -> List.skipWhile (fun x -> x <= first) model | [] -> []
                ops.FreeFirstOne ins, model', last, ok
            | Reset -> Inflights.reset ins, [], last, ok
        let ins, model, _, ok = List.fold step (Inflights.create size, [], 0UL, true) steps
        ok
        && Inflights.toList ins = model
        && Inflights.count ins = model.Length
        && Inflights.full ins = (model.Length = size)
        && ins = List.fold (fun i x -> Inflights.add x i) (Inflights.create size) model)

[<Fact>]
let ``inflights behave like a bounded list`` () =
    behavesLikeAList realOps |> holds

[<Fact>]
let ``the inflights model check catches freeLE that keeps the boundary index`` () =
    let broken = { realOps with FreeLE = fun i ins -> if i = 0UL then ins else Inflights.freeLE (i - 1UL) ins }
    Assert.True(caught (behavesLikeAList broken))

[<Fact>]
let ``the inflights model check catches freeFirstOne that frees only one of equal indexes`` () =
    // Equal indexes are all freed with the first (etcd frees everything <= the oldest).
    let broken =
        { realOps with
            FreeFirstOne =
                fun ins ->
                    match Inflights.toList ins with
                    | _ :: rest -> List.fold (fun i x -> Inflights.add x i) (Inflights.create (Inflights.size ins)) rest
                    | [] -> ins }
    Assert.True(caught (behavesLikeAList broken))

// ---- Progress ----------------------------------------------------------------------------------

let private pr0 = Progress.create 256 0UL false

[<Fact>]
let ``progress prints as etcd prints it`` () =
    let pr =
        { Match = 1UL
          Next = 2UL
          State = StateSnapshot
          PendingSnapshot = 123UL
          RecentActive = false
          ProbeSent = true
          IsLearner = true
          Inflights = Inflights.create 1 |> Inflights.add 123UL }
    Assert.Equal("StateSnapshot match=1 next=2 learner paused pendingSnap=123 inactive inflight=1[full]", Progress.toString pr)
    Assert.Equal("StateReplicate match=5 next=6", Progress.toString { pr0 with State = StateReplicate; Match = 5UL; Next = 6UL; RecentActive = true })
    let m = Map.ofList [ 2UL, { pr0 with Next = 3UL; RecentActive = true }; 1UL, { pr0 with Next = 1UL } ]
    Assert.Equal("1: StateProbe match=0 next=1 inactive\n2: StateProbe match=0 next=3\n", ProgressMap.toString m)

[<Fact>]
let ``isPaused depends on the state`` () =
    for state, probeSent, expected in
        [ StateProbe, false, false
          StateProbe, true, true
          StateReplicate, false, false
          StateReplicate, true, false
          StateSnapshot, false, true
          StateSnapshot, true, true ] do
        Assert.Equal(expected, Progress.isPaused { pr0 with State = state; ProbeSent = probeSent })
    let full = { pr0 with State = StateReplicate; Inflights = Inflights.create 1 |> Inflights.add 1UL }
    Assert.True(Progress.isPaused full)

[<Fact>]
let ``maybeUpdate and maybeDecrTo resume probing`` () =
    let _, p = Progress.maybeDecrTo 1UL 1UL { pr0 with Next = 2UL; ProbeSent = true }
    Assert.False(p.ProbeSent)
    let _, p = Progress.maybeUpdate 2UL { p with ProbeSent = true }
    Assert.False(p.ProbeSent)

[<Fact>]
let ``becomeProbe resumes after Match or after a sent snapshot`` () =
    for start, expectedNext in
        [ { pr0 with State = StateReplicate; Match = 1UL; Next = 5UL }, 2UL
          { pr0 with State = StateSnapshot; Match = 1UL; Next = 5UL; PendingSnapshot = 10UL }, 11UL
          { pr0 with State = StateSnapshot; Match = 1UL; Next = 5UL; PendingSnapshot = 0UL }, 2UL ] do
        let p = Progress.becomeProbe start
        Assert.Equal(StateProbe, p.State)
        Assert.Equal(1UL, p.Match)
        Assert.Equal(expectedNext, p.Next)
        Assert.Equal(0UL, p.PendingSnapshot)

[<Fact>]
let ``becomeReplicate and becomeSnapshot reset the state`` () =
    let start = { pr0 with Match = 1UL; Next = 5UL; ProbeSent = true }
    let r = Progress.becomeReplicate start
    Assert.Equal(StateReplicate, r.State)
    Assert.Equal(2UL, r.Next)
    Assert.False(r.ProbeSent)
    let withInflight = { r with Inflights = Inflights.add 3UL r.Inflights }
    let s = Progress.becomeSnapshot 10UL withInflight
    Assert.Equal(StateSnapshot, s.State)
    Assert.Equal(1UL, s.Match)
    Assert.Equal(10UL, s.PendingSnapshot)
    Assert.Equal(0, s.Inflights.Count)

[<Fact>]
let ``maybeUpdate never moves Match or Next back`` () =
    let start = { pr0 with Match = 3UL; Next = 5UL }
    for n, wm, wn, wok in [ 2UL, 3UL, 5UL, false; 3UL, 3UL, 5UL, false; 4UL, 4UL, 5UL, true; 5UL, 5UL, 6UL, true ] do
        let ok, p = Progress.maybeUpdate n start
        Assert.Equal(wok, ok)
        Assert.Equal(wm, p.Match)
        Assert.Equal(wn, p.Next)

[<Fact>]
let ``maybeDecrTo ignores stale rejections and lowers Next otherwise`` () =
    for state, m, n, rejected, hint, wok, wn in
        [ StateReplicate, 5UL, 10UL, 5UL, 5UL, false, 10UL // rejected <= match: stale
          StateReplicate, 5UL, 10UL, 4UL, 4UL, false, 10UL
          StateReplicate, 5UL, 10UL, 9UL, 9UL, true, 6UL // straight back to match+1
          StateProbe, 0UL, 0UL, 0UL, 0UL, false, 0UL // next-1 <> rejected: stale
          StateProbe, 0UL, 10UL, 5UL, 5UL, false, 10UL
          StateProbe, 0UL, 10UL, 9UL, 9UL, true, 9UL
          StateProbe, 0UL, 2UL, 1UL, 1UL, true, 1UL
          StateProbe, 0UL, 1UL, 0UL, 0UL, true, 1UL // never below 1
          StateProbe, 0UL, 10UL, 9UL, 2UL, true, 3UL // min(rejected, hint+1)
          StateProbe, 0UL, 10UL, 9UL, 0UL, true, 1UL ] do
        let ok, p = Progress.maybeDecrTo rejected hint { pr0 with State = state; Match = m; Next = n }
        Assert.Equal(wok, ok)
        Assert.Equal(m, p.Match)
        Assert.Equal(wn, p.Next)

// ---- ProgressTracker ---------------------------------------------------------------------------

let private trackerWith (voters: uint64 list) (outgoing: uint64 list) (learners: uint64 list) =
    let prs =
        List.distinct (voters @ outgoing @ learners)
        |> List.map (fun id -> id, { Progress.create 10 1UL (List.contains id learners) with RecentActive = true })
        |> Map.ofList
    { ProgressTracker.make 10 with
        Config =
            { TrackerConfig.empty with
                Voters = { Incoming = MajorityConfig.ofSeq voters; Outgoing = MajorityConfig.ofSeq outgoing }
                Learners = MajorityConfig.ofSeq learners }
        Progress = prs }

[<Fact>]
let ``visit goes in increasing id order, beyond seven peers too`` () =
    let ids = [ 12UL; 3UL; 9UL; 1UL; 20UL; 7UL; 5UL; 15UL; 2UL ]
    let t = trackerWith ids [] []
    let seen = ResizeArray()
    ProgressTracker.visit (fun id _ -> seen.Add id) t
    Assert.Equal<uint64 list>(List.sort ids, List.ofSeq seen)

[<Fact>]
let ``committed follows the joint quorum of Match`` () =
    let t = trackerWith [ 1UL; 2UL; 3UL ] [ 3UL; 4UL; 5UL ] [ 6UL ]
    let setMatch id m t = ProgressTracker.updateProgress id (fun pr -> { pr with Match = m }) t
    let t = t |> setMatch 1UL 10UL |> setMatch 2UL 9UL |> setMatch 3UL 8UL |> setMatch 4UL 3UL |> setMatch 5UL 2UL |> setMatch 6UL 100UL
    // Incoming (1 2 3) commits 9, outgoing (3 4 5) commits 3; the learner does not count.
    Assert.Equal(3UL, ProgressTracker.committed t)
    Assert.Equal(8UL, ProgressTracker.committed (t |> setMatch 4UL 8UL))

[<Fact>]
let ``quorumActive ignores learners`` () =
    let inactive id t = ProgressTracker.updateProgress id (fun pr -> { pr with RecentActive = false }) t
    let t = trackerWith [ 1UL; 2UL; 3UL ] [] [ 4UL ]
    Assert.True(ProgressTracker.quorumActive (t |> inactive 3UL |> inactive 4UL))
    Assert.False(ProgressTracker.quorumActive (t |> inactive 2UL |> inactive 3UL))

[<Fact>]
let ``votes: the first vote counts and tallies cover tracked voters`` () =
    let t = trackerWith [ 1UL; 2UL; 3UL ] [] [ 4UL ]
    let t = t |> ProgressTracker.recordVote 1UL true |> ProgressTracker.recordVote 1UL false |> ProgressTracker.recordVote 4UL true
    Assert.Equal((1, 0, VotePending), ProgressTracker.tallyVotes t)
    let t = t |> ProgressTracker.recordVote 2UL false |> ProgressTracker.recordVote 9UL true
    Assert.Equal((1, 1, VotePending), ProgressTracker.tallyVotes t)
    let t = t |> ProgressTracker.recordVote 3UL true
    Assert.Equal((2, 1, VoteWon), ProgressTracker.tallyVotes t)
    Assert.Equal((0, 0, VotePending), ProgressTracker.tallyVotes (ProgressTracker.resetVotes t))

[<Fact>]
let ``config queries and text form`` () =
    let t = trackerWith [ 1UL; 2UL ] [ 1UL; 3UL ] [ 5UL ]
    let t = { t with Config = { t.Config with LearnersNext = MajorityConfig.ofSeq [ 3UL ]; AutoLeave = true } }
    Assert.Equal("voters=(1 2)&&(1 3) learners=(5) learners_next=(3) autoleave", TrackerConfig.toString t.Config)
    Assert.Equal<uint64 list>([ 1UL; 2UL; 3UL ], ProgressTracker.voterNodes t)
    Assert.Equal<uint64 list>([ 5UL ], ProgressTracker.learnerNodes t)
    Assert.False(ProgressTracker.isSingleton t)
    Assert.True(ProgressTracker.isSingleton (trackerWith [ 7UL ] [] [ 8UL ]))
    Assert.Equal(
        { Voters = [ 1UL; 2UL ]; VotersOutgoing = [ 1UL; 3UL ]; Learners = [ 5UL ]; LearnersNext = [ 3UL ]; AutoLeave = true },
        ProgressTracker.confState t)
    Assert.Equal("voters=()", TrackerConfig.toString TrackerConfig.empty)
