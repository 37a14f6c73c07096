/// Inflights, Progress and ProgressTracker, after etcd's tracker tests.
module Raft.Core.Tests.TrackerTests

open Expecto
open Hedgehog
open Hedgehog.FSharp
open Raft.Core
open Raft.Core.Tests.PropertyCheck

let private addAll (xs: uint64 seq) ins = Seq.fold (fun i x -> Inflights.add x i) ins xs

// ---- Inflights ---------------------------------------------------------------------------------

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
    let genOp = Gen.frequency [ 5, Hog.intIn 0 3 |> Gen.map (uint64 >> Add); 2, Hog.intIn 0 40 |> Gen.map (uint64 >> FreeLE); 1, Gen.constant FreeFirst; 1, Gen.constant Reset ]
    property {
        let! size = Hog.intIn 1 8
        let! steps = Hog.listOf genOp
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
        return
            ok
            && Inflights.toList ins = model
            && Inflights.count ins = model.Length
            && Inflights.full ins = (model.Length = size)
            && ins = List.fold (fun i x -> Inflights.add x i) (Inflights.create size) model
    }

// ---- Progress ----------------------------------------------------------------------------------

let private pr0 = Progress.create 256 0UL false

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

[<Tests>]
let tests =
    testList "Tracker" [
        testCase "inflights add up to the limit and then are full" <| fun () ->
            let ins = Inflights.create 10 |> addAll [ 0UL .. 4UL ]
            Expect.equal (Inflights.count ins) 5 "Inflights.count ins"
            Expect.isFalse (Inflights.full ins) "Inflights.full ins"
            let ins = ins |> addAll [ 5UL .. 9UL ]
            Expect.equal (Inflights.count ins) 10 "Inflights.count ins"
            Expect.isTrue (Inflights.full ins) "Inflights.full ins"
            Expect.equal (Inflights.toList ins) ([ 0UL .. 9UL ]) "Inflights.toList ins"
            Expect.throws (fun () -> Inflights.add 10UL ins |> ignore) "adding to a full window throws"

        testCase "freeLE frees a prefix and keeps the rest across wraparound" <| fun () ->
            let ins = Inflights.create 10 |> addAll [ 0UL .. 9UL ]
            let ins = Inflights.freeLE 4UL ins
            Expect.equal (Inflights.toList ins) ([ 5UL .. 9UL ]) "Inflights.toList ins"
            let ins = Inflights.freeLE 8UL ins
            Expect.equal (Inflights.toList ins) ([ 9UL ]) "Inflights.toList ins"
            // More than the size in total has now been added: the window wraps around.
            let ins = ins |> addAll [ 10UL .. 14UL ]
            Expect.equal (Inflights.count ins) 6 "Inflights.count ins"
            let ins = Inflights.freeLE 12UL ins
            Expect.equal (Inflights.toList ins) ([ 13UL; 14UL ]) "Inflights.toList ins"
            let ins = Inflights.freeLE 14UL ins
            Expect.equal (Inflights.count ins) 0 "Inflights.count ins"
            // Freeing below the window, or on an empty one, is a no-op.
            let ins2 = Inflights.create 10 |> addAll [ 5UL; 6UL ]
            Expect.equal (Inflights.freeLE 4UL ins2) ins2 "Inflights.freeLE 4UL ins2"
            Expect.equal (Inflights.freeLE 100UL (Inflights.create 10)) (Inflights.create 10) "Inflights.freeLE 100UL (Inflights.create 10)"

        testCase "freeFirstOne frees the oldest" <| fun () ->
            let ins = Inflights.create 10 |> addAll [ 0UL .. 9UL ] |> Inflights.freeFirstOne
            Expect.equal (Inflights.toList ins) ([ 1UL .. 9UL ]) "Inflights.toList ins"
            Expect.isFalse (Inflights.full ins) "Inflights.full ins"
            Expect.equal (Inflights.freeFirstOne (Inflights.create 3)) (Inflights.create 3) "Inflights.freeFirstOne (Inflights.create 3)"

        testCase "old inflights values are unaffected by later operations" <| fun () ->
            let a = Inflights.create 4 |> addAll [ 1UL; 2UL ]
            let b = a |> Inflights.add 3UL |> Inflights.freeLE 2UL
            Expect.equal (Inflights.toList a) ([ 1UL; 2UL ]) "Inflights.toList a"
            Expect.equal (Inflights.toList b) ([ 3UL ]) "Inflights.toList b"

        testCase "inflights behave like a bounded list" <| fun () ->
            behavesLikeAList realOps |> Hog.holdsBool

        testCase "the inflights model check catches freeLE that keeps the boundary index" <| fun () ->
            let broken = { realOps with FreeLE = fun i ins -> if i = 0UL then ins else Inflights.freeLE (i - 1UL) ins }
            Expect.isTrue (Hog.caughtBool (behavesLikeAList broken)) "the broken variant is caught"

        testCase "the inflights model check catches freeFirstOne that frees only one of equal indexes" <| fun () ->
            // Equal indexes are all freed with the first (etcd frees everything <= the oldest).
            let broken =
                { realOps with
                    FreeFirstOne =
                        fun ins ->
                            match Inflights.toList ins with
                            | _ :: rest -> List.fold (fun i x -> Inflights.add x i) (Inflights.create (Inflights.size ins)) rest
                            | [] -> ins }
            Expect.isTrue (Hog.caughtBool (behavesLikeAList broken)) "the broken variant is caught"

        testCase "progress prints as etcd prints it" <| fun () ->
            let pr =
                { Match = 1UL
                  Next = 2UL
                  State = StateSnapshot
                  PendingSnapshot = 123UL
                  RecentActive = false
                  ProbeSent = true
                  IsLearner = true
                  Inflights = Inflights.create 1 |> Inflights.add 123UL }
            Expect.equal (Progress.toString pr) ("StateSnapshot match=1 next=2 learner paused pendingSnap=123 inactive inflight=1[full]") "Progress.toString pr"
            Expect.equal (Progress.toString { pr0 with State = StateReplicate; Match = 5UL; Next = 6UL; RecentActive = true }) ("StateReplicate match=5 next=6") "a replicating progress prints its state"
            let m = Map.ofList [ 2UL, { pr0 with Next = 3UL; RecentActive = true }; 1UL, { pr0 with Next = 1UL } ]
            Expect.equal (ProgressMap.toString m) ("1: StateProbe match=0 next=1 inactive\n2: StateProbe match=0 next=3\n") "ProgressMap.toString m"

        testCase "isPaused depends on the state" <| fun () ->
            for state, probeSent, expected in
                [ StateProbe, false, false
                  StateProbe, true, true
                  StateReplicate, false, false
                  StateReplicate, true, false
                  StateSnapshot, false, true
                  StateSnapshot, true, true ] do
                Expect.equal (Progress.isPaused { pr0 with State = state; ProbeSent = probeSent }) expected "Progress.isPaused { pr0 with State = state; ProbeSent = probeSent }"
            let full = { pr0 with State = StateReplicate; Inflights = Inflights.create 1 |> Inflights.add 1UL }
            Expect.isTrue (Progress.isPaused full) "Progress.isPaused full"

        testCase "maybeUpdate and maybeDecrTo resume probing" <| fun () ->
            let _, p = Progress.maybeDecrTo 1UL 1UL { pr0 with Next = 2UL; ProbeSent = true }
            Expect.isFalse p.ProbeSent "p.ProbeSent"
            let _, p = Progress.maybeUpdate 2UL { p with ProbeSent = true }
            Expect.isFalse p.ProbeSent "p.ProbeSent"

        testCase "becomeProbe resumes after Match or after a sent snapshot" <| fun () ->
            for start, expectedNext in
                [ { pr0 with State = StateReplicate; Match = 1UL; Next = 5UL }, 2UL
                  { pr0 with State = StateSnapshot; Match = 1UL; Next = 5UL; PendingSnapshot = 10UL }, 11UL
                  { pr0 with State = StateSnapshot; Match = 1UL; Next = 5UL; PendingSnapshot = 0UL }, 2UL ] do
                let p = Progress.becomeProbe start
                Expect.equal p.State StateProbe "p.State"
                Expect.equal p.Match 1UL "p.Match"
                Expect.equal p.Next expectedNext "p.Next"
                Expect.equal p.PendingSnapshot 0UL "p.PendingSnapshot"

        testCase "becomeReplicate and becomeSnapshot reset the state" <| fun () ->
            let start = { pr0 with Match = 1UL; Next = 5UL; ProbeSent = true }
            let r = Progress.becomeReplicate start
            Expect.equal r.State StateReplicate "r.State"
            Expect.equal r.Next 2UL "r.Next"
            Expect.isFalse r.ProbeSent "r.ProbeSent"
            let withInflight = { r with Inflights = Inflights.add 3UL r.Inflights }
            let s = Progress.becomeSnapshot 10UL withInflight
            Expect.equal s.State StateSnapshot "s.State"
            Expect.equal s.Match 1UL "s.Match"
            Expect.equal s.PendingSnapshot 10UL "s.PendingSnapshot"
            Expect.equal s.Inflights.Count 0 "s.Inflights.Count"

        testCase "maybeUpdate never moves Match or Next back" <| fun () ->
            let start = { pr0 with Match = 3UL; Next = 5UL }
            for n, wm, wn, wok in [ 2UL, 3UL, 5UL, false; 3UL, 3UL, 5UL, false; 4UL, 4UL, 5UL, true; 5UL, 5UL, 6UL, true ] do
                let ok, p = Progress.maybeUpdate n start
                Expect.equal ok wok "ok"
                Expect.equal p.Match wm "p.Match"
                Expect.equal p.Next wn "p.Next"

        testCase "maybeDecrTo ignores stale rejections and lowers Next otherwise" <| fun () ->
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
                Expect.equal ok wok "ok"
                Expect.equal p.Match m "p.Match"
                Expect.equal p.Next wn "p.Next"

        testCase "visit goes in increasing id order, beyond seven peers too" <| fun () ->
            let ids = [ 12UL; 3UL; 9UL; 1UL; 20UL; 7UL; 5UL; 15UL; 2UL ]
            let t = trackerWith ids [] []
            let seen = ResizeArray()
            ProgressTracker.visit (fun id _ -> seen.Add id) t
            Expect.equal (List.ofSeq seen) (List.sort ids) "List.ofSeq seen"

        testCase "committed follows the joint quorum of Match" <| fun () ->
            let t = trackerWith [ 1UL; 2UL; 3UL ] [ 3UL; 4UL; 5UL ] [ 6UL ]
            let setMatch id m t = ProgressTracker.updateProgress id (fun pr -> { pr with Match = m }) t
            let t = t |> setMatch 1UL 10UL |> setMatch 2UL 9UL |> setMatch 3UL 8UL |> setMatch 4UL 3UL |> setMatch 5UL 2UL |> setMatch 6UL 100UL
            // Incoming (1 2 3) commits 9, outgoing (3 4 5) commits 3; the learner does not count.
            Expect.equal (ProgressTracker.committed t) 3UL "ProgressTracker.committed t"
            Expect.equal (ProgressTracker.committed (t |> setMatch 4UL 8UL)) 8UL "ProgressTracker.committed (t |> setMatch 4UL 8UL)"

        testCase "quorumActive ignores learners" <| fun () ->
            let inactive id t = ProgressTracker.updateProgress id (fun pr -> { pr with RecentActive = false }) t
            let t = trackerWith [ 1UL; 2UL; 3UL ] [] [ 4UL ]
            Expect.isTrue (ProgressTracker.quorumActive (t |> inactive 3UL |> inactive 4UL)) "ProgressTracker.quorumActive (t |> inactive 3UL |> inactive 4UL)"
            Expect.isFalse (ProgressTracker.quorumActive (t |> inactive 2UL |> inactive 3UL)) "ProgressTracker.quorumActive (t |> inactive 2UL |> inactive 3UL)"

        testCase "votes: the first vote counts and tallies cover tracked voters" <| fun () ->
            let t = trackerWith [ 1UL; 2UL; 3UL ] [] [ 4UL ]
            let t = t |> ProgressTracker.recordVote 1UL true |> ProgressTracker.recordVote 1UL false |> ProgressTracker.recordVote 4UL true
            Expect.equal (ProgressTracker.tallyVotes t) (1, 0, VotePending) "ProgressTracker.tallyVotes t"
            let t = t |> ProgressTracker.recordVote 2UL false |> ProgressTracker.recordVote 9UL true
            Expect.equal (ProgressTracker.tallyVotes t) (1, 1, VotePending) "ProgressTracker.tallyVotes t"
            let t = t |> ProgressTracker.recordVote 3UL true
            Expect.equal (ProgressTracker.tallyVotes t) (2, 1, VoteWon) "ProgressTracker.tallyVotes t"
            Expect.equal (ProgressTracker.tallyVotes (ProgressTracker.resetVotes t)) (0, 0, VotePending) "ProgressTracker.tallyVotes (ProgressTracker.resetVotes t)"

        testCase "config queries and text form" <| fun () ->
            let t = trackerWith [ 1UL; 2UL ] [ 1UL; 3UL ] [ 5UL ]
            let t = { t with Config = { t.Config with LearnersNext = MajorityConfig.ofSeq [ 3UL ]; AutoLeave = true } }
            Expect.equal (TrackerConfig.toString t.Config) ("voters=(1 2)&&(1 3) learners=(5) learners_next=(3) autoleave") "TrackerConfig.toString t.Config"
            Expect.equal (ProgressTracker.voterNodes t) ([ 1UL; 2UL; 3UL ]) "ProgressTracker.voterNodes t"
            Expect.equal (ProgressTracker.learnerNodes t) ([ 5UL ]) "ProgressTracker.learnerNodes t"
            Expect.isFalse (ProgressTracker.isSingleton t) "ProgressTracker.isSingleton t"
            Expect.isTrue (ProgressTracker.isSingleton (trackerWith [ 7UL ] [] [ 8UL ])) "ProgressTracker.isSingleton (trackerWith [ 7UL ] [] [ 8UL ])"
            Expect.equal (ProgressTracker.confState t) ({ Voters = [ 1UL; 2UL ]; VotersOutgoing = [ 1UL; 3UL ]; Learners = [ 5UL ]; LearnersNext = [ 3UL ]; AutoLeave = true }) "ProgressTracker.confState t"
            Expect.equal (TrackerConfig.toString TrackerConfig.empty) ("voters=()") "TrackerConfig.toString TrackerConfig.empty"
    ]
