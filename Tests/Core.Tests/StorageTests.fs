/// MemoryStorage (etcd's storage_test.go cases), errors as values and panics as BrokenInvariant.
module Raft.Core.Tests.StorageTests

open Xunit
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

[<Theory>]
[<InlineData(2UL, "ErrCompacted", 0UL)>]
[<InlineData(3UL, "", 3UL)>]
[<InlineData(4UL, "", 4UL)>]
[<InlineData(5UL, "", 5UL)>]
[<InlineData(6UL, "ErrUnavailable", 0UL)>]
let ``Term answers within [firstIndex-1, lastIndex] and says why not outside`` (i: uint64, err: string, term: uint64) =
    match MemoryStorage.term i (s345 ()), err with
    | Ok t, "" -> Assert.Equal(term, t)
    | Error ErrCompacted, "ErrCompacted" -> ()
    | Error ErrUnavailable, "ErrUnavailable" -> ()
    | r, _ -> Assert.Fail(sprintf "term %d: got %A, want %s %d" i r err term)

[<Fact>]
let ``Entries honours the range, compaction and the size limit`` () =
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
        Assert.True((got = want), sprintf "entries %d %d %d: got %A, want %A" lo hi maxSize got want)

[<Fact>]
let ``Entries beyond the last index is a broken invariant`` () =
    Assert.Throws<BrokenInvariant>(fun () -> MemoryStorage.entries 4UL 7UL 100UL (s345 ()) |> ignore) |> ignore

[<Fact>]
let ``Entries of a storage with only its dummy entry is unavailable`` () =
    Assert.Equal(Error ErrUnavailable, MemoryStorage.entries 1UL 1UL 100UL MemoryStorage.empty)

[<Fact>]
let ``LastIndex follows appends`` () =
    let s = s345 ()
    Assert.Equal(5UL, MemoryStorage.lastIndex s)
    Assert.Equal(6UL, MemoryStorage.lastIndex (MemoryStorage.append [| ent 6UL 5UL |] s))

[<Fact>]
let ``FirstIndex follows compaction`` () =
    let s = s345 ()
    Assert.Equal(4UL, MemoryStorage.firstIndex s)
    match MemoryStorage.compact 4UL s with
    | Ok s -> Assert.Equal(5UL, MemoryStorage.firstIndex s)
    | Error e -> Assert.Fail(sprintf "%A" e)

[<Theory>]
[<InlineData(2UL, true, 3UL, 3UL, 3)>]
[<InlineData(3UL, true, 3UL, 3UL, 3)>]
[<InlineData(4UL, false, 4UL, 4UL, 2)>]
[<InlineData(5UL, false, 5UL, 5UL, 1)>]
let ``Compact keeps the compacted entry's index and term as the dummy`` (i: uint64, compacted: bool, index: uint64, term: uint64, len: int) =
    let s = s345 ()
    let s =
        match MemoryStorage.compact i s, compacted with
        | Ok s, false -> s
        | Error ErrCompacted, true -> s
        | r, _ -> failwithf "compact %d: %A" i r
    let all = withDummy s
    Assert.Equal((index, term), List.head all)
    Assert.Equal(len, List.length all)

[<Fact>]
let ``Compact beyond the last index is a broken invariant`` () =
    Assert.Throws<BrokenInvariant>(fun () -> MemoryStorage.compact 6UL (s345 ()) |> ignore) |> ignore

[<Fact>]
let ``CreateSnapshot takes the term at the index, the conf state and the data`` () =
    let cs = { Pb.emptyConfState with Voters = [ 1UL; 2UL; 3UL ] }
    let data = "data"B
    for i in [ 4UL; 5UL ] do
        match MemoryStorage.createSnapshot i (Some cs) data (s345 ()) with
        | Ok(snap, s) ->
            Assert.Equal({ Data = data; Metadata = { Index = i; Term = i; ConfState = cs } }, snap)
            Assert.Equal(snap, MemoryStorage.snapshot s)
        | Error e -> Assert.Fail(sprintf "%A" e)

[<Fact>]
let ``CreateSnapshot refuses an index at or below the current snapshot`` () =
    let s =
        match MemoryStorage.applySnapshot { Pb.emptySnapshot with Metadata = { Pb.emptySnapshot.Metadata with Index = 4UL; Term = 4UL } } MemoryStorage.empty with
        | Ok s -> MemoryStorage.append [| ent 5UL 4UL |] s
        | Error e -> failwithf "%A" e
    Assert.Equal(Error ErrSnapOutOfDate, MemoryStorage.createSnapshot 4UL None [||] s |> Result.map fst)
    Assert.True(Result.isOk (MemoryStorage.createSnapshot 5UL None [||] s))
    Assert.Throws<BrokenInvariant>(fun () -> MemoryStorage.createSnapshot 6UL None [||] s |> ignore) |> ignore

[<Fact>]
let ``Append truncates what the new entries replace and skips what is compacted`` () =
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
        Assert.True((got = want), sprintf "append %A: got %A, want %A" ents got want)

[<Fact>]
let ``Append after a gap is a broken invariant`` () =
    Assert.Throws<BrokenInvariant>(fun () -> MemoryStorage.append [| ent 7UL 5UL |] (s345 ()) |> ignore) |> ignore

[<Fact>]
let ``ApplySnapshot replaces the log and refuses an older snapshot`` () =
    let cs = { Pb.emptyConfState with Voters = [ 1UL; 2UL; 3UL ] }
    let snap i = { Data = "data"B; Metadata = { Index = i; Term = i; ConfState = cs } }
    match MemoryStorage.applySnapshot (snap 4UL) MemoryStorage.empty with
    | Ok s ->
        Assert.Equal<(uint64 * uint64) list>([ 4UL, 4UL ], withDummy s)
        Assert.Equal(cs, snd (MemoryStorage.initialState s))
        Assert.Equal(Error ErrSnapOutOfDate, MemoryStorage.applySnapshot (snap 3UL) s |> Result.map ignore)
    | Error e -> Assert.Fail(sprintf "%A" e)
