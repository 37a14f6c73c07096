/// MemoryStorage (etcd's storage_test.go cases), errors as values and panics as BrokenInvariant.
module Raft.Core.Tests.StorageTests

open Expecto
open Raft.Core

let ent (index: uint64) (term: uint64) : Entry =
    { Index = index; Term = term; Type = EntryNormal; Data = [||] }

/// A storage whose dummy entry is at index 3, term 3, followed by entries 4 and 5.
let private s345 () = MemoryStorage.ofEntries [| ent 3UL 3UL; ent 4UL 4UL; ent 5UL 5UL |]

/// All entries of a storage after its dummy entry, as (index, term) pairs.
let private contents (s: MemoryStorage) =
    let fi, li = MemoryStorage.firstIndex s, MemoryStorage.lastIndex s
    if li < fi then []
    else
        match MemoryStorage.entries fi (li + 1UL) System.UInt64.MaxValue s with
        | Ok es -> es |> Array.map (fun e -> e.Index, e.Term) |> List.ofArray
        | Error e -> failwithf "entries failed: %A" e

/// The dummy entry's index and term, then the entries.
let private withDummy (s: MemoryStorage) =
    let off = MemoryStorage.firstIndex s - 1UL
    let t = MemoryStorage.term off s |> Result.defaultWith (fun e -> failwithf "%A" e)
    (off, t) :: contents s

[<Tests>]
let tests =
    testList "Storage" [
        testList "Term answers within [firstIndex-1, lastIndex] and says why not outside" [
            for i, err, term in [ (2UL, "ErrCompacted", 0UL); (3UL, "", 3UL); (4UL, "", 4UL); (5UL, "", 5UL); (6UL, "ErrUnavailable", 0UL) ] ->
                testCase (sprintf "%A" (i, err, term)) <| fun () ->
                    match MemoryStorage.term i (s345 ()), err with
                    | Ok t, "" -> Expect.equal t term "the term"
                    | Error ErrCompacted, "ErrCompacted" -> ()
                    | Error ErrUnavailable, "ErrUnavailable" -> ()
                    | r, _ -> failtest (sprintf "term %d: got %A, want %s %d" i r err term)
        ]

        testCase "Entries honours the range, compaction and the size limit" <| fun () ->
            let s = MemoryStorage.ofEntries [| ent 3UL 3UL; ent 4UL 4UL; ent 5UL 5UL; ent 6UL 6UL |]
            let size (i: uint64) = uint64 (Codec.entrySize (ent i i))
            let cases =
                [ 2UL, 6UL, System.UInt64.MaxValue, Error ErrCompacted
                  3UL, 4UL, System.UInt64.MaxValue, Error ErrCompacted
                  4UL, 5UL, System.UInt64.MaxValue, Ok [ 4UL ]
                  4UL, 6UL, System.UInt64.MaxValue, Ok [ 4UL; 5UL ]
                  4UL, 7UL, System.UInt64.MaxValue, Ok [ 4UL; 5UL; 6UL ]
                  // Even with a zero limit, the first entry is returned.
                  4UL, 7UL, 0UL, Ok [ 4UL ]
                  4UL, 7UL, size 4UL + size 5UL, Ok [ 4UL; 5UL ]
                  4UL, 7UL, size 4UL + size 5UL + size 6UL / 2UL, Ok [ 4UL; 5UL ]
                  4UL, 7UL, size 4UL + size 5UL + size 6UL - 1UL, Ok [ 4UL; 5UL ]
                  4UL, 7UL, size 4UL + size 5UL + size 6UL, Ok [ 4UL; 5UL; 6UL ] ]
            for lo, hi, maxSize, want in cases do
                let got = MemoryStorage.entries lo hi maxSize s |> Result.map (Array.map (fun e -> e.Index) >> List.ofArray)
                Expect.isTrue (got = want) (sprintf "entries %d %d %d: got %A, want %A" lo hi maxSize got want)

        testCase "Entries beyond the last index is a broken invariant" <| fun () ->
            Expect.throwsT<BrokenInvariant> (fun () -> MemoryStorage.entries 4UL 7UL 100UL (s345 ()) |> ignore) "MemoryStorage.entries 4UL 7UL 100UL (s345 ())"

        testCase "Entries of a storage with only its dummy entry is unavailable" <| fun () ->
            Expect.equal (MemoryStorage.entries 1UL 1UL 100UL MemoryStorage.empty) (Error ErrUnavailable) "MemoryStorage.entries 1UL 1UL 100UL MemoryStorage.empty"

        testCase "LastIndex follows appends" <| fun () ->
            let s = s345 ()
            Expect.equal (MemoryStorage.lastIndex s) 5UL "MemoryStorage.lastIndex s"
            Expect.equal (MemoryStorage.lastIndex (MemoryStorage.append [| ent 6UL 5UL |] s)) 6UL "MemoryStorage.lastIndex (MemoryStorage.append [| ent 6UL 5UL |] s)"

        testCase "FirstIndex follows compaction" <| fun () ->
            let s = s345 ()
            Expect.equal (MemoryStorage.firstIndex s) 4UL "MemoryStorage.firstIndex s"
            match MemoryStorage.compact 4UL s with
            | Ok s -> Expect.equal (MemoryStorage.firstIndex s) 5UL "MemoryStorage.firstIndex s"
            | Error e -> failtest (sprintf "%A" e)

        testList "Compact keeps the compacted entry's index and term as the dummy" [
            for i, compacted, index, term, len in [ (2UL, true, 3UL, 3UL, 3); (3UL, true, 3UL, 3UL, 3); (4UL, false, 4UL, 4UL, 2); (5UL, false, 5UL, 5UL, 1) ] ->
                testCase (sprintf "%A" (i, compacted, index, term, len)) <| fun () ->
                    let s = s345 ()
                    let s =
                        match MemoryStorage.compact i s, compacted with
                        | Ok s, false -> s
                        | Error ErrCompacted, true -> s
                        | r, _ -> failwithf "compact %d: %A" i r
                    let all = withDummy s
                    Expect.equal (List.head all) (index, term) "List.head all"
                    Expect.equal (List.length all) len "List.length all"
        ]

        testCase "Compact beyond the last index is a broken invariant" <| fun () ->
            Expect.throwsT<BrokenInvariant> (fun () -> MemoryStorage.compact 6UL (s345 ()) |> ignore) "MemoryStorage.compact 6UL (s345 ())"

        testCase "CreateSnapshot takes the term at the index, the conf state and the data" <| fun () ->
            let cs = { Pb.emptyConfState with Voters = [ 1UL; 2UL; 3UL ] }
            let data = "data"B
            for i in [ 4UL; 5UL ] do
                match MemoryStorage.createSnapshot i (Some cs) data (s345 ()) with
                | Ok(snap, s) ->
                    Expect.equal snap ({ Data = data; Metadata = { Index = i; Term = i; ConfState = cs } }) "the snapshot made"
                    Expect.equal (MemoryStorage.snapshot s) snap "MemoryStorage.snapshot s"
                | Error e -> failtest (sprintf "%A" e)

        testCase "CreateSnapshot refuses an index at or below the current snapshot" <| fun () ->
            let s =
                match MemoryStorage.applySnapshot { Pb.emptySnapshot with Metadata = { Pb.emptySnapshot.Metadata with Index = 4UL; Term = 4UL } } MemoryStorage.empty with
                | Ok s -> MemoryStorage.append [| ent 5UL 4UL |] s
                | Error e -> failwithf "%A" e
            Expect.equal (MemoryStorage.createSnapshot 4UL None [||] s |> Result.map fst) (Error ErrSnapOutOfDate) "MemoryStorage.createSnapshot 4UL None [||] s |> Result.map fst"
            Expect.isTrue (Result.isOk (MemoryStorage.createSnapshot 5UL None [||] s)) "Result.isOk (MemoryStorage.createSnapshot 5UL None [||] s)"
            Expect.throwsT<BrokenInvariant> (fun () -> MemoryStorage.createSnapshot 6UL None [||] s |> ignore) "MemoryStorage.createSnapshot 6UL None [||] s"

        testCase "Append truncates what the new entries replace and skips what is compacted" <| fun () ->
            let cases =
                [ [ ent 1UL 1UL; ent 2UL 2UL ], [ 3UL, 3UL; 4UL, 4UL; 5UL, 5UL ]
                  [ ent 3UL 3UL; ent 4UL 4UL; ent 5UL 5UL ], [ 3UL, 3UL; 4UL, 4UL; 5UL, 5UL ]
                  [ ent 3UL 3UL; ent 4UL 6UL; ent 5UL 6UL ], [ 3UL, 3UL; 4UL, 6UL; 5UL, 6UL ]
                  [ ent 3UL 3UL; ent 4UL 4UL; ent 5UL 5UL; ent 6UL 5UL ], [ 3UL, 3UL; 4UL, 4UL; 5UL, 5UL; 6UL, 5UL ]
                  // Truncate the incoming entries, truncate the existing ones and append.
                  [ ent 2UL 3UL; ent 3UL 3UL; ent 4UL 5UL ], [ 3UL, 3UL; 4UL, 5UL ]
                  // Truncate the existing entries and append.
                  [ ent 4UL 5UL ], [ 3UL, 3UL; 4UL, 5UL ]
                  // Direct append.
                  [ ent 6UL 5UL ], [ 3UL, 3UL; 4UL, 4UL; 5UL, 5UL; 6UL, 5UL ] ]
            for ents, want in cases do
                let got = withDummy (MemoryStorage.append (Array.ofList ents) (s345 ()))
                Expect.isTrue (got = want) (sprintf "append %A: got %A, want %A" ents got want)

        testCase "Append after a gap is a broken invariant" <| fun () ->
            Expect.throwsT<BrokenInvariant> (fun () -> MemoryStorage.append [| ent 7UL 5UL |] (s345 ()) |> ignore) "MemoryStorage.append [| ent 7UL 5UL |] (s345 ())"

        testCase "ApplySnapshot replaces the log and refuses an older snapshot" <| fun () ->
            let cs = { Pb.emptyConfState with Voters = [ 1UL; 2UL; 3UL ] }
            let snap i = { Data = "data"B; Metadata = { Index = i; Term = i; ConfState = cs } }
            match MemoryStorage.applySnapshot (snap 4UL) MemoryStorage.empty with
            | Ok s ->
                Expect.equal (withDummy s) ([ 4UL, 4UL ]) "withDummy s"
                Expect.equal (snd (MemoryStorage.initialState s)) cs "snd (MemoryStorage.initialState s)"
                Expect.equal (MemoryStorage.applySnapshot (snap 3UL) s |> Result.map ignore) (Error ErrSnapOutOfDate) "MemoryStorage.applySnapshot (snap 3UL) s |> Result.map ignore"
            | Error e -> failtest (sprintf "%A" e)
    ]
