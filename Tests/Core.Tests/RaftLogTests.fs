/// RaftLog (etcd's log_test.go cases, and findConflictByTerm).
module Raft.Core.Tests.RaftLogTests

open Expecto
open Raft.Core
open Raft.Core.Tests.StorageTests

let private noLimit = RaftLog.NoLimit

let private appendAll (ents: Entry list) (l: RaftLog) = fst (RaftLog.append (EntrySeq.ofSeq ents) l)

let private logOf (ents: Entry list) = RaftLog.newLog MemoryStorage.empty |> appendAll ents

let private pairs (es: EntrySeq) = es |> Seq.map (fun e -> e.Index, e.Term) |> List.ofSeq

let private snapAt (i: uint64) (t: uint64) =
    { Pb.emptySnapshot with Metadata = { Pb.emptySnapshot.Metadata with Index = i; Term = t } }

let private storageWithSnapshot (i: uint64) (t: uint64) =
    match MemoryStorage.applySnapshot (snapAt i t) MemoryStorage.empty with
    | Ok s -> s
    | Error e -> failwithf "%A" e

let private mustTerm (r: Result<uint64, StorageError>) =
    match r with
    | Ok t -> t
    | Error e -> failwithf "term: %A" e

let private ok (r: Result<'a, StorageError>) =
    match r with
    | Ok v -> v
    | Error e -> failwithf "unexpected %A" e

let private previous = [ ent 1UL 1UL; ent 2UL 2UL; ent 3UL 3UL ]

let private afterSnapshot (applied: uint64) =
    RaftLog.newLog (storageWithSnapshot 3UL 1UL)
    |> appendAll [ ent 4UL 1UL; ent 5UL 1UL; ent 6UL 1UL ]
    |> fun l -> (RaftLog.maybeCommit 5UL 1UL l).Value
    |> RaftLog.appliedTo applied

[<Tests>]
let tests =
    testList "RaftLog" [
        testCase "findConflict returns the first conflicting or new index" <| fun () ->
            let cases =
                [ [], 0UL
                  // No conflict.
                  [ ent 1UL 1UL; ent 2UL 2UL; ent 3UL 3UL ], 0UL
                  [ ent 2UL 2UL; ent 3UL 3UL ], 0UL
                  [ ent 3UL 3UL ], 0UL
                  // No conflict, but new entries.
                  [ ent 1UL 1UL; ent 2UL 2UL; ent 3UL 3UL; ent 4UL 4UL; ent 5UL 4UL ], 4UL
                  [ ent 2UL 2UL; ent 3UL 3UL; ent 4UL 4UL; ent 5UL 4UL ], 4UL
                  [ ent 3UL 3UL; ent 4UL 4UL; ent 5UL 4UL ], 4UL
                  [ ent 4UL 4UL; ent 5UL 4UL ], 4UL
                  // Conflicts with existing entries.
                  [ ent 1UL 4UL; ent 2UL 4UL ], 1UL
                  [ ent 2UL 1UL; ent 3UL 4UL; ent 4UL 4UL ], 2UL
                  [ ent 3UL 1UL; ent 4UL 2UL; ent 5UL 4UL; ent 6UL 4UL ], 3UL ]
            for ents, want in cases do
                let got, _ = RaftLog.findConflict (EntrySeq.ofSeq ents) (logOf previous)
                Expect.isTrue (got = want) (sprintf "findConflict %A: %d, want %d" ents got want)

        testCase "findConflict logs a conflict within the log but not a new entry" <| fun () ->
            let _, lines = RaftLog.findConflict (EntrySeq.ofSeq [ ent 2UL 1UL ]) (logOf previous)
            Expect.equal (lines |> List.map (fun l -> l.Text)) ([ "found conflict at index 2 [existing term: 2, conflicting term: 1]" ]) "lines |> List.map (fun l -> l.Text)"
            let _, lines = RaftLog.findConflict (EntrySeq.ofSeq [ ent 4UL 4UL ]) (logOf previous)
            Expect.isEmpty lines "no log line"

        testCase "findConflictByTerm finds the largest index with a term at most the given one" <| fun () ->
            // Terms at indexes 1..9: 1 3 3 3 5 5 5 5 5 (the leader's log in etcd's explanation).
            let l = logOf ([ 1UL; 3UL; 3UL; 3UL; 5UL; 5UL; 5UL; 5UL; 5UL ] |> List.mapi (fun i t -> ent (uint64 i + 1UL) t))
            let cases = [ 9UL, 2UL, 1UL; 9UL, 5UL, 9UL; 9UL, 4UL, 4UL; 6UL, 3UL, 4UL; 3UL, 0UL, 0UL; 1UL, 1UL, 1UL; 5UL, 6UL, 5UL ]
            for index, term, want in cases do
                let got, lines = RaftLog.findConflictByTerm index term l
                Expect.isTrue (got = want) (sprintf "findConflictByTerm %d %d: %d, want %d" index term got want)
                Expect.isEmpty lines "no log line"

        testCase "findConflictByTerm stops at the compacted prefix and warns about an index past the end" <| fun () ->
            // Snapshot at 4 (term 3), then terms 5 5 6 at indexes 5..7.
            let l = RaftLog.newLog (storageWithSnapshot 4UL 3UL) |> appendAll [ ent 5UL 5UL; ent 6UL 5UL; ent 7UL 6UL ]
            Expect.equal (fst (RaftLog.findConflictByTerm 7UL 4UL l)) 4UL "fst (RaftLog.findConflictByTerm 7UL 4UL l)"
            // Below the snapshot the term reads as 0, which ends the search.
            Expect.equal (fst (RaftLog.findConflictByTerm 7UL 2UL l)) 3UL "fst (RaftLog.findConflictByTerm 7UL 2UL l)"
            let got, lines = RaftLog.findConflictByTerm 8UL 1UL l
            Expect.equal got 8UL "the conflict index found"
            Expect.equal lines ([ { Level = LogLevel.Warn; Text = "index(8) is out of range [0, lastIndex(7)] in findConflictByTerm" } ]) "the out-of-range warning"

        testCase "isUpToDate compares the last term first, then the last index" <| fun () ->
            let l = logOf previous
            let li = RaftLog.lastIndex l
            let cases =
                [ li - 1UL, 4UL, true; li, 4UL, true; li + 1UL, 4UL, true
                  li - 1UL, 2UL, false; li, 2UL, false; li + 1UL, 2UL, false
                  li - 1UL, 3UL, false; li, 3UL, true; li + 1UL, 3UL, true ]
            for index, term, want in cases do
                Expect.isTrue (RaftLog.isUpToDate index term l = want) (sprintf "isUpToDate %d %d" index term)

        testCase "append truncates conflicting unstable entries and moves the unstable offset" <| fun () ->
            let cases =
                [ [], 2UL, [ 1UL, 1UL; 2UL, 2UL ], 3UL
                  [ ent 3UL 2UL ], 3UL, [ 1UL, 1UL; 2UL, 2UL; 3UL, 2UL ], 3UL
                  // Conflicts with index 1.
                  [ ent 1UL 2UL ], 1UL, [ 1UL, 2UL ], 1UL
                  // Conflicts with index 2.
                  [ ent 2UL 3UL; ent 3UL 3UL ], 3UL, [ 1UL, 1UL; 2UL, 3UL; 3UL, 3UL ], 2UL ]
            for ents, wIndex, wEnts, wUnstable in cases do
                let storage = MemoryStorage.append [| ent 1UL 1UL; ent 2UL 2UL |] MemoryStorage.empty
                let l = RaftLog.newLog storage |> appendAll ents
                Expect.equal (RaftLog.lastIndex l) wIndex "RaftLog.lastIndex l"
                Expect.equal (pairs (ok (RaftLog.entries 1UL noLimit l))) wEnts "pairs (ok (RaftLog.entries 1UL noLimit l))"
                Expect.equal l.Unstable.Offset wUnstable "l.Unstable.Offset"

        testCase "maybeAppend appends what matches and commits no further than the new entries" <| fun () ->
            let lastindex, lastterm, commit = 3UL, 3UL, 1UL
            // logTerm, index, committed, ents, last new index (None: refused), commit
            let cases =
                [ // Not matching: the term differs, or the index is out of bounds.
                  lastterm - 1UL, lastindex, lastindex, [ ent (lastindex + 1UL) 4UL ], None, commit
                  lastterm, lastindex + 1UL, lastindex, [ ent (lastindex + 2UL) 4UL ], None, commit
                  // Matching the last entry.
                  lastterm, lastindex, lastindex, [], Some lastindex, lastindex
                  lastterm, lastindex, lastindex + 1UL, [], Some lastindex, lastindex
                  lastterm, lastindex, lastindex - 1UL, [], Some lastindex, lastindex - 1UL
                  lastterm, lastindex, 0UL, [], Some lastindex, commit
                  0UL, 0UL, lastindex, [], Some 0UL, commit
                  lastterm, lastindex, lastindex, [ ent (lastindex + 1UL) 4UL ], Some(lastindex + 1UL), lastindex
                  lastterm, lastindex, lastindex + 1UL, [ ent (lastindex + 1UL) 4UL ], Some(lastindex + 1UL), lastindex + 1UL
                  lastterm, lastindex, lastindex + 2UL, [ ent (lastindex + 1UL) 4UL ], Some(lastindex + 1UL), lastindex + 1UL
                  lastterm, lastindex, lastindex + 2UL, [ ent (lastindex + 1UL) 4UL; ent (lastindex + 2UL) 4UL ], Some(lastindex + 2UL), lastindex + 2UL
                  // Matching an entry in the middle.
                  lastterm - 1UL, lastindex - 1UL, lastindex, [ ent lastindex 4UL ], Some lastindex, lastindex
                  lastterm - 2UL, lastindex - 2UL, lastindex, [ ent (lastindex - 1UL) 4UL ], Some(lastindex - 1UL), lastindex - 1UL
                  lastterm - 2UL, lastindex - 2UL, lastindex, [ ent (lastindex - 1UL) 4UL; ent lastindex 4UL ], Some lastindex, lastindex ]
            for logTerm, index, committed, ents, wLast, wCommit in cases do
                let l = { logOf previous with Committed = commit }
                match RaftLog.maybeAppend index logTerm committed (EntrySeq.ofSeq ents) l, wLast with
                | None, None -> ()
                | Some(l, lastnewi, _), Some w ->
                    Expect.equal lastnewi w "the last new index"
                    Expect.equal l.Committed wCommit "l.Committed"
                    if not ents.IsEmpty then
                        let li = RaftLog.lastIndex l
                        let got = ok (RaftLog.slice (li - uint64 ents.Length + 1UL) (li + 1UL) noLimit l)
                        Expect.equal (pairs got) (pairs (EntrySeq.ofSeq ents)) "pairs got"
                | got, _ -> failtest (sprintf "maybeAppend %d %d %d %A: %A, want %A" index logTerm committed ents (got |> Option.map (fun (_, i, _) -> i)) wLast)

        testCase "maybeAppend conflicting with a committed entry is a broken invariant" <| fun () ->
            let l = { logOf previous with Committed = 1UL }
            Expect.throwsT<BrokenInvariant> (fun () -> RaftLog.maybeAppend 0UL 0UL 3UL (EntrySeq.ofSeq [ ent 1UL 4UL ]) l |> ignore) "RaftLog.maybeAppend 0UL 0UL 3UL (EntrySeq.ofSeq [ ent 1UL 4UL ]) l"

        testCase "the log keeps working after its storage is compacted" <| fun () ->
            let lastIndex, unstableIndex = 1000UL, 750UL
            let storage = [| for i in 1UL .. unstableIndex -> ent i i |] |> fun es -> MemoryStorage.append es MemoryStorage.empty
            let l = RaftLog.newLog storage |> appendAll [ for i in unstableIndex + 1UL .. lastIndex -> ent i i ]
            let l = (RaftLog.maybeCommit lastIndex lastIndex l).Value
            let l = RaftLog.appliedTo l.Committed l
            let l = { l with Storage = ok (MemoryStorage.compact 500UL l.Storage) }
            Expect.equal (RaftLog.lastIndex l) lastIndex "RaftLog.lastIndex l"
            for j in 500UL .. lastIndex do
                Expect.equal (mustTerm (RaftLog.term j l)) j "mustTerm (RaftLog.term j l)"
                Expect.isTrue (RaftLog.matchTerm j j l) "RaftLog.matchTerm j j l"
            let unstable = RaftLog.unstableEntries l
            Expect.equal unstable.Count 250 "unstable.Count"
            Expect.equal unstable[0].Index 751UL "unstable[0].Index"
            let prev = RaftLog.lastIndex l
            let l = appendAll [ ent (prev + 1UL) (prev + 1UL) ] l
            Expect.equal (RaftLog.lastIndex l) (prev + 1UL) "RaftLog.lastIndex l"
            Expect.equal ((ok (RaftLog.entries (RaftLog.lastIndex l) noLimit l)).Count) 1 "(ok (RaftLog.entries (RaftLog.lastIndex l) noLimit l)).Count"

        testList "hasNextEnts tells whether committed entries await applying" [
            for applied, want in [ (0UL, true); (3UL, true); (4UL, true); (5UL, false) ] ->
                testCase (sprintf "%A" (applied, want)) <| fun () ->
                    Expect.equal (RaftLog.hasNextEnts (afterSnapshot applied)) want "RaftLog.hasNextEnts (afterSnapshot applied)"
        ]

        testCase "nextEnts hands out committed entries after applied and the snapshot" <| fun () ->
            for applied, want in [ 0UL, [ 4UL; 5UL ]; 3UL, [ 4UL; 5UL ]; 4UL, [ 5UL ]; 5UL, [] ] do
                Expect.equal (RaftLog.nextEnts (afterSnapshot applied) |> Seq.map (fun e -> e.Index) |> List.ofSeq) want "the committed entries after applied"

        testCase "unstableEntries are the entries not in storage until they are stable" <| fun () ->
            let prev = [ ent 1UL 1UL; ent 2UL 2UL ]
            for stable, want in [ 2, []; 0, prev ] do
                let storage = MemoryStorage.append (prev |> List.take stable |> Array.ofList) MemoryStorage.empty
                let l = RaftLog.newLog storage |> appendAll (List.skip stable prev)
                let ents = RaftLog.unstableEntries l
                Expect.equal (pairs ents) (pairs (EntrySeq.ofSeq want)) "pairs ents"
                let l = if ents.IsEmpty then l else RaftLog.stableTo (EntrySeq.last ents).Index (EntrySeq.last ents).Term l
                Expect.equal l.Unstable.Offset 3UL "l.Unstable.Offset"

        testCase "commitTo never decreases and never passes the last index" <| fun () ->
            let l = { logOf previous with Committed = 2UL }
            Expect.equal ((RaftLog.commitTo 3UL l).Committed) 3UL "(RaftLog.commitTo 3UL l).Committed"
            Expect.equal ((RaftLog.commitTo 1UL l).Committed) 2UL "(RaftLog.commitTo 1UL l).Committed"
            Expect.throwsT<BrokenInvariant> (fun () -> RaftLog.commitTo 4UL l |> ignore) "RaftLog.commitTo 4UL l"

        testCase "stableTo moves the offset only for a matching unstable entry" <| fun () ->
            for i, t, want in [ 1UL, 1UL, 2UL; 2UL, 2UL, 3UL; 2UL, 1UL, 1UL; 3UL, 1UL, 1UL ] do
                let l = logOf [ ent 1UL 1UL; ent 2UL 2UL ]
                Expect.equal ((RaftLog.stableTo i t l).Unstable.Offset) want "(RaftLog.stableTo i t l).Unstable.Offset"

        testCase "stableTo after a snapshot ignores the snapshot's index" <| fun () ->
            let si, st = 5UL, 2UL
            let cases =
                [ si + 1UL, st, [], si + 1UL; si, st, [], si + 1UL; si - 1UL, st, [], si + 1UL
                  si + 1UL, st + 1UL, [], si + 1UL; si, st + 1UL, [], si + 1UL; si - 1UL, st + 1UL, [], si + 1UL
                  si + 1UL, st, [ ent (si + 1UL) st ], si + 2UL; si, st, [ ent (si + 1UL) st ], si + 1UL
                  si - 1UL, st, [ ent (si + 1UL) st ], si + 1UL; si + 1UL, st + 1UL, [ ent (si + 1UL) st ], si + 1UL
                  si, st + 1UL, [ ent (si + 1UL) st ], si + 1UL; si - 1UL, st + 1UL, [ ent (si + 1UL) st ], si + 1UL ]
            for i, t, ents, want in cases do
                let l = RaftLog.newLog (storageWithSnapshot si st) |> appendAll ents
                Expect.equal ((RaftLog.stableTo i t l).Unstable.Offset) want "(RaftLog.stableTo i t l).Unstable.Offset"

        testCase "compacting storage shrinks what the log holds" <| fun () ->
            let cases = [ [ 1001UL ], [ -1 ]; [ 300UL; 500UL; 800UL; 900UL ], [ 700; 500; 200; 100 ]; [ 300UL; 299UL ], [ 700; -1 ] ]
            for compacts, lefts in cases do
                let storage = [| for i in 1UL .. 1000UL -> ent i 0UL |] |> fun es -> MemoryStorage.append es MemoryStorage.empty
                let l = RaftLog.newLog storage
                let l = (RaftLog.maybeCommit 1000UL 0UL l) |> Option.defaultValue l
                let mutable l = RaftLog.appliedTo l.Committed l
                for c, left in List.zip compacts lefts do
                    let result =
                        try
                            MemoryStorage.compact c l.Storage |> Result.mapError (fun _ -> "compacted")
                        with :? BrokenInvariant ->
                            Error "out of bound"
                    match result with
                    | Ok s ->
                        l <- { l with Storage = s }
                        Expect.equal ((RaftLog.allEntries l).Count) left "(RaftLog.allEntries l).Count"
                    | Error _ -> Expect.equal left (-1) "entries left under the limit"

        testCase "a log over a snapshot starts after it, committed at it" <| fun () ->
            let l = RaftLog.newLog (storageWithSnapshot 1000UL 1000UL)
            Expect.equal ((RaftLog.allEntries l).Count) 0 "(RaftLog.allEntries l).Count"
            Expect.equal (RaftLog.firstIndex l) 1001UL "RaftLog.firstIndex l"
            Expect.equal l.Committed 1000UL "l.Committed"
            Expect.equal l.Unstable.Offset 1001UL "l.Unstable.Offset"
            Expect.equal (mustTerm (RaftLog.term 1000UL l)) 1000UL "mustTerm (RaftLog.term 1000UL l)"

        testCase "slice bounds: compacted is an error, beyond the end a broken invariant" <| fun () ->
            let offset, num = 100UL, 100UL
            let l = RaftLog.newLog (storageWithSnapshot offset 0UL) |> appendAll [ for i in 1UL .. num -> ent (i + offset) 0UL ]
            let first = offset + 1UL
            Expect.equal (RaftLog.slice (first - 2UL) (first + 1UL) noLimit l |> Result.map ignore) (Error ErrCompacted) "a slice below the first index is compacted"
            Expect.equal (RaftLog.slice (first - 1UL) (first + 1UL) noLimit l |> Result.map ignore) (Error ErrCompacted) "a slice from the dummy index is compacted"
            for lo in [ first; first + num / 2UL; first + num - 1UL; first + num ] do
                Expect.isTrue (Result.isOk (RaftLog.slice lo lo noLimit l)) "Result.isOk (RaftLog.slice lo lo noLimit l)"
            Expect.throwsT<BrokenInvariant> (fun () -> RaftLog.slice (first + num) (first + num + 1UL) noLimit l |> ignore) "RaftLog.slice (first + num) (first + num + 1UL) noLimit l"
            Expect.throwsT<BrokenInvariant> (fun () -> RaftLog.slice (first + num + 1UL) (first + num + 1UL) noLimit l |> ignore) "RaftLog.slice (first + num + 1UL) (first + num + 1UL) noLimit l"

        testCase "term is 0 outside the log and known inside it" <| fun () ->
            let offset, num = 100UL, 100UL
            let l = RaftLog.newLog (storageWithSnapshot offset 1UL) |> appendAll [ for i in 1UL .. num - 1UL -> ent (offset + i) i ]
            for index, want in [ offset - 1UL, 0UL; offset, 1UL; offset + num / 2UL, num / 2UL; offset + num - 1UL, num - 1UL; offset + num, 0UL ] do
                Expect.equal (mustTerm (RaftLog.term index l)) want "mustTerm (RaftLog.term index l)"

        testCase "term with an unstable snapshot knows only the snapshot's index" <| fun () ->
            let storageSnap, unstableSnap = 100UL, 105UL
            let l, line = RaftLog.restore (snapAt unstableSnap 1UL) (RaftLog.newLog (storageWithSnapshot storageSnap 1UL))
            Expect.equal line.Text ("log [committed=100, applied=100, unstable.offset=101, len(unstable.Entries)=0] starts to restore snapshot [index: 105, term: 1]") "the restore log line"
            for index, want in [ storageSnap, 0UL; storageSnap + 1UL, 0UL; unstableSnap - 1UL, 0UL; unstableSnap, 1UL ] do
                Expect.equal (mustTerm (RaftLog.term index l)) want "mustTerm (RaftLog.term index l)"

        testCase "slice spans storage and unstable entries within the size limit" <| fun () ->
            let offset, num = 100UL, 100UL
            let last, half = offset + num, offset + num / 2UL
            let size = uint64 (Codec.entrySize (ent half half))
            let storage =
                [| for i in 1UL .. num / 2UL - 1UL -> ent (offset + i) (offset + i) |]
                |> fun es -> MemoryStorage.append es (storageWithSnapshot offset 0UL)
            let l = RaftLog.newLog storage |> appendAll [ for i in num / 2UL .. num - 1UL -> ent (offset + i) (offset + i) ]
            let cases =
                [ half - 1UL, half + 1UL, noLimit, [ half - 1UL; half ]
                  half, half + 1UL, noLimit, [ half ]
                  last - 1UL, last, noLimit, [ last - 1UL ]
                  half - 1UL, half + 1UL, 0UL, [ half - 1UL ]
                  half - 1UL, half + 1UL, size + 1UL, [ half - 1UL ]
                  half - 2UL, half + 1UL, size + 1UL, [ half - 2UL ]
                  half - 1UL, half + 1UL, size * 2UL, [ half - 1UL; half ]
                  half - 1UL, half + 2UL, size * 3UL, [ half - 1UL; half; half + 1UL ]
                  half, half + 2UL, size, [ half ]
                  half, half + 2UL, size * 2UL, [ half; half + 1UL ] ]
            for lo, hi, limit, want in cases do
                let got = ok (RaftLog.slice lo hi limit l) |> Seq.map (fun e -> e.Index) |> List.ofSeq
                Expect.isTrue (got = want) (sprintf "slice %d %d %d: %A, want %A" lo hi limit got want)
            Expect.equal (RaftLog.slice (offset - 1UL) (offset + 1UL) noLimit l |> Result.map ignore) (Error ErrCompacted) "a slice below the offset is compacted"
            Expect.equal (RaftLog.slice offset (offset + 1UL) noLimit l |> Result.map ignore) (Error ErrCompacted) "RaftLog.slice offset (offset + 1UL) noLimit l |> Result.map ignore"
            Expect.throwsT<BrokenInvariant> (fun () -> RaftLog.slice last (last + 1UL) noLimit l |> ignore) "RaftLog.slice last (last + 1UL) noLimit l"
    ]
