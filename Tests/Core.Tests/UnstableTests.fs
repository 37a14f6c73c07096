/// Unstable (etcd's log_unstable_test.go cases).
module Raft.Core.Tests.UnstableTests

open Expecto
open Raft.Core
open Raft.Core.Tests.StorageTests

let private snap (i: uint64) (t: uint64) =
    { Pb.emptySnapshot with Metadata = { Pb.emptySnapshot.Metadata with Index = i; Term = t } }

let private mk (ents: Entry list) (offset: uint64) (s: Snapshot option) : Unstable =
    { Entries = EntrySeq.ofSeq ents; Offset = offset; Snapshot = s }

let private pairs (es: EntrySeq) = es |> Seq.map (fun e -> e.Index, e.Term) |> List.ofSeq

[<Tests>]
let tests =
    testList "Unstable" [
        testCase "maybeFirstIndex is known only with a snapshot" <| fun () ->
            Expect.equal (Unstable.maybeFirstIndex (mk [ ent 5UL 1UL ] 5UL None)) None "Unstable.maybeFirstIndex (mk [ ent 5UL 1UL ] 5UL None)"
            Expect.equal (Unstable.maybeFirstIndex (mk [] 0UL None)) None "Unstable.maybeFirstIndex (mk [] 0UL None)"
            Expect.equal (Unstable.maybeFirstIndex (mk [ ent 5UL 1UL ] 5UL (Some(snap 4UL 1UL)))) (Some 5UL) "Unstable.maybeFirstIndex (mk [ ent 5UL 1UL ] 5UL (Some(snap 4UL 1UL)))"
            Expect.equal (Unstable.maybeFirstIndex (mk [] 5UL (Some(snap 4UL 1UL)))) (Some 5UL) "Unstable.maybeFirstIndex (mk [] 5UL (Some(snap 4UL 1UL)))"

        testCase "maybeLastIndex comes from the entries, else the snapshot" <| fun () ->
            Expect.equal (Unstable.maybeLastIndex (mk [ ent 5UL 1UL ] 5UL None)) (Some 5UL) "Unstable.maybeLastIndex (mk [ ent 5UL 1UL ] 5UL None)"
            Expect.equal (Unstable.maybeLastIndex (mk [ ent 5UL 1UL ] 5UL (Some(snap 4UL 1UL)))) (Some 5UL) "Unstable.maybeLastIndex (mk [ ent 5UL 1UL ] 5UL (Some(snap 4UL 1UL)))"
            Expect.equal (Unstable.maybeLastIndex (mk [] 5UL (Some(snap 4UL 1UL)))) (Some 4UL) "Unstable.maybeLastIndex (mk [] 5UL (Some(snap 4UL 1UL)))"
            Expect.equal (Unstable.maybeLastIndex (mk [] 0UL None)) None "Unstable.maybeLastIndex (mk [] 0UL None)"

        testCase "maybeTerm knows the entries and the snapshot's index" <| fun () ->
            let cases =
                [ [ ent 5UL 1UL ], 5UL, None, 5UL, Some 1UL
                  [ ent 5UL 1UL ], 5UL, None, 6UL, None
                  [ ent 5UL 1UL ], 5UL, None, 4UL, None
                  [ ent 5UL 1UL ], 5UL, Some(snap 4UL 1UL), 5UL, Some 1UL
                  [ ent 5UL 1UL ], 5UL, Some(snap 4UL 1UL), 6UL, None
                  [ ent 5UL 1UL ], 5UL, Some(snap 4UL 1UL), 4UL, Some 1UL
                  [ ent 5UL 1UL ], 5UL, Some(snap 4UL 1UL), 3UL, None
                  [], 5UL, Some(snap 4UL 1UL), 5UL, None
                  [], 5UL, Some(snap 4UL 1UL), 4UL, Some 1UL
                  [], 0UL, None, 5UL, None ]
            for ents, offset, s, i, want in cases do
                Expect.isTrue (Unstable.maybeTerm i (mk ents offset s) = want) (sprintf "maybeTerm %d of %A at %d" i ents offset)

        testCase "restore replaces everything with the snapshot" <| fun () ->
            let s = snap 6UL 2UL
            let u = Unstable.restore s (mk [ ent 5UL 1UL ] 5UL (Some(snap 4UL 1UL)))
            Expect.equal u.Offset 7UL "u.Offset"
            Expect.isTrue u.Entries.IsEmpty "u.Entries.IsEmpty"
            Expect.equal u.Snapshot (Some s) "u.Snapshot"

        testCase "stableTo drops entries up to a matching unstable entry only" <| fun () ->
            let cases =
                [ [], 0UL, None, 5UL, 1UL, 0UL, 0
                  [ ent 5UL 1UL ], 5UL, None, 5UL, 1UL, 6UL, 0
                  [ ent 5UL 1UL; ent 6UL 1UL ], 5UL, None, 5UL, 1UL, 6UL, 1
                  // Term mismatch.
                  [ ent 6UL 2UL ], 6UL, None, 6UL, 1UL, 6UL, 1
                  // An old entry.
                  [ ent 5UL 1UL ], 5UL, None, 4UL, 1UL, 5UL, 1
                  [ ent 5UL 1UL ], 5UL, None, 4UL, 2UL, 5UL, 1
                  [ ent 5UL 1UL ], 5UL, Some(snap 4UL 1UL), 5UL, 1UL, 6UL, 0
                  [ ent 5UL 1UL; ent 6UL 1UL ], 5UL, Some(snap 4UL 1UL), 5UL, 1UL, 6UL, 1
                  [ ent 6UL 2UL ], 6UL, Some(snap 5UL 1UL), 6UL, 1UL, 6UL, 1
                  // The snapshot's index does not count.
                  [ ent 5UL 1UL ], 5UL, Some(snap 4UL 1UL), 4UL, 1UL, 5UL, 1
                  [ ent 5UL 2UL ], 5UL, Some(snap 4UL 2UL), 4UL, 1UL, 5UL, 1 ]
            for ents, offset, s, i, t, wOffset, wLen in cases do
                let u = Unstable.stableTo i t (mk ents offset s)
                Expect.isTrue ((u.Offset, u.Entries.Count) = (wOffset, wLen)) (sprintf "stableTo %d %d of %A at %d: %d %d" i t ents offset u.Offset u.Entries.Count)

        testCase "truncateAndAppend appends, replaces or truncates, and says so" <| fun () ->
            let cases =
                [ [ ent 5UL 1UL ], [ ent 6UL 1UL; ent 7UL 1UL ], 5UL, [ 5UL, 1UL; 6UL, 1UL; 7UL, 1UL ], None
                  [ ent 5UL 1UL ], [ ent 5UL 2UL; ent 6UL 2UL ], 5UL, [ 5UL, 2UL; 6UL, 2UL ], Some "replace the unstable entries from index 5"
                  [ ent 5UL 1UL ], [ ent 4UL 2UL; ent 5UL 2UL; ent 6UL 2UL ], 4UL, [ 4UL, 2UL; 5UL, 2UL; 6UL, 2UL ], Some "replace the unstable entries from index 4"
                  [ ent 5UL 1UL; ent 6UL 1UL; ent 7UL 1UL ], [ ent 6UL 2UL ], 5UL, [ 5UL, 1UL; 6UL, 2UL ], Some "truncate the unstable entries before index 6"
                  [ ent 5UL 1UL; ent 6UL 1UL; ent 7UL 1UL ], [ ent 7UL 2UL; ent 8UL 2UL ], 5UL, [ 5UL, 1UL; 6UL, 1UL; 7UL, 2UL; 8UL, 2UL ], Some "truncate the unstable entries before index 7" ]
            for ents, toAppend, wOffset, wEnts, wLine in cases do
                let u, line = Unstable.truncateAndAppend (EntrySeq.ofSeq toAppend) (mk ents 5UL None)
                Expect.equal u.Offset wOffset "u.Offset"
                Expect.equal (pairs u.Entries) wEnts "pairs u.Entries"
                Expect.equal (line |> Option.map (fun l -> l.Text)) wLine "line |> Option.map (fun l -> l.Text)"

        testCase "slicing out of bounds is a broken invariant" <| fun () ->
            let u = mk [ ent 5UL 1UL; ent 6UL 1UL ] 5UL None
            Expect.equal (pairs (Unstable.slice 6UL 7UL u)) ([ 6UL, 1UL ]) "pairs (Unstable.slice 6UL 7UL u)"
            Expect.throwsT<BrokenInvariant> (fun () -> Unstable.slice 4UL 6UL u |> ignore) "Unstable.slice 4UL 6UL u"
            Expect.throwsT<BrokenInvariant> (fun () -> Unstable.slice 5UL 8UL u |> ignore) "Unstable.slice 5UL 8UL u"
            Expect.throwsT<BrokenInvariant> (fun () -> Unstable.slice 6UL 5UL u |> ignore) "Unstable.slice 6UL 5UL u"
    ]
