/// Old values stay valid: appending to, truncating or compacting a newer version of a log never
/// changes what an older version holds, although versions share their backing arrays.
module Raft.Core.Tests.PersistenceTests

open Expecto
open Hedgehog
open Hedgehog.FSharp
open Raft.Core
open Raft.Core.Tests.PropertyCheck

/// The operations under test, over some sequence type 'S.
type SeqOps<'S> =
    { Empty: 'S
      Append: Entry[] -> 'S -> 'S
      Take: int -> 'S -> 'S
      Skip: int -> 'S -> 'S
      Contents: 'S -> Entry list }

/// An operation on the version picked by `From` (modulo the number of versions so far).
type Op =
    | Append of From: int * Count: int
    | Take of From: int * Keep: int
    | Skip of From: int * Drop: int

let private genOp =
    Gen.choice
        [ Gen.map2 (fun v n -> Append(v, n)) (Hog.intIn 0 1000) (Hog.intIn 1 5)
          Gen.map2 (fun v n -> Take(v, n)) (Hog.intIn 0 1000) (Hog.intIn 0 1000)
          Gen.map2 (fun v n -> Skip(v, n)) (Hog.intIn 0 1000) (Hog.intIn 0 1000) ]

/// Runs the operations, each on some earlier version, and checks after each one that every
/// version still holds exactly what a plain list model says it should.
let versionsStayIntact (ops: SeqOps<'S>) (program: Op list) =
    let versions = ResizeArray<'S * Entry list>([ ops.Empty, [] ])
    let mutable next = 1UL
    let fresh n =
        Array.init n (fun _ ->
            let e = { Index = next; Term = next; Type = EntryNormal; Data = [||] }
            next <- next + 1UL
            e)
    program
    |> List.forall (fun op ->
        let pick v = versions[v % versions.Count]
        let created =
            match op with
            | Append(v, n) ->
                let s, model = pick v
                let es = fresh n
                ops.Append es s, model @ List.ofArray es
            | Take(v, k) ->
                let s, model = pick v
                let k = k % (model.Length + 1)
                ops.Take k s, List.take k model
            | Skip(v, k) ->
                let s, model = pick v
                let k = k % (model.Length + 1)
                ops.Skip k s, List.skip k model
        versions.Add created
        versions |> Seq.forall (fun (s, model) -> ops.Contents s = model))

let entrySeqOps: SeqOps<EntrySeq> =
    { Empty = EntrySeq.empty
      Append = EntrySeq.append
      Take = EntrySeq.take
      Skip = EntrySeq.skip
      Contents = List.ofSeq }

/// A deliberately broken sharing scheme: it appends in place whenever the array has room,
/// without checking whether a newer version already owns the cells after its end.
type private Unclaimed = { Items: Entry[]; Start: int; Count: int }

let private unclaimedOps: SeqOps<Unclaimed> =
    { Empty = { Items = [||]; Start = 0; Count = 0 }
      Append =
        fun es s ->
            if s.Start + s.Count + es.Length <= s.Items.Length then
                Array.blit es 0 s.Items (s.Start + s.Count) es.Length
                { s with Count = s.Count + es.Length }
            else
                let items = Array.zeroCreate (2 * (s.Count + es.Length))
                Array.blit s.Items s.Start items 0 s.Count
                Array.blit es 0 items s.Count es.Length
                { Items = items; Start = 0; Count = s.Count + es.Length }
      Take = fun k s -> { s with Count = k }
      Skip = fun k s -> { s with Start = s.Start + k; Count = s.Count - k }
      Contents = fun s -> List.ofArray s.Items[s.Start .. s.Start + s.Count - 1] }

let private programsKeepVersions ops =
    property {
        let! program = Hog.listOf genOp
        return versionsStayIntact ops program
    }

/// The same property one level up: MemoryStorage values keep their contents while newer
/// versions append (with truncation) and compact.
type StorageOp =
    | StorageAppend of From: int * At: int * Count: int * Term: int
    | StorageCompact of From: int * At: int

type StorageOps<'S> =
    { New: unit -> 'S
      Append: Entry[] -> 'S -> 'S
      Compact: uint64 -> 'S -> 'S
      First: 'S -> uint64
      Last: 'S -> uint64
      Read: 'S -> (uint64 * uint64) list }

let private genStorageOp =
    Gen.choice
        [ Gen.map4 (fun v a n t -> StorageAppend(v, a, n, t)) (Hog.intIn 0 1000) (Hog.intIn 0 1000) (Hog.intIn 1 4) (Hog.intIn 1 3)
          Gen.map2 (fun v a -> StorageCompact(v, a)) (Hog.intIn 0 1000) (Hog.intIn 0 1000) ]

/// Each version's contents, read when it was made, are read again unchanged after every later
/// operation on any version.
let storageVersionsStayIntact (ops: StorageOps<'S>) (program: StorageOp list) =
    let versions = ResizeArray<'S * (uint64 * uint64) list>()
    let s0 = ops.New()
    versions.Add(s0, ops.Read s0)
    program
    |> List.forall (fun op ->
        let s =
            match op with
            | StorageAppend(v, at, n, t) ->
                let s, _ = versions[v % versions.Count]
                // Start anywhere from the first index to just past the last.
                let first, last = ops.First s, ops.Last s
                let start = first + uint64 at % (last + 2UL - first)
                let term = uint64 t
                ops.Append [| for i in 0 .. n - 1 -> { Index = start + uint64 i; Term = term; Type = EntryNormal; Data = [||] } |] s
            | StorageCompact(v, at) ->
                let s, _ = versions[v % versions.Count]
                let first, last = ops.First s, ops.Last s
                if last < first then s else ops.Compact (first + uint64 at % (last + 1UL - first)) s
        versions.Add(s, ops.Read s)
        versions |> Seq.forall (fun (s, seen) -> ops.Read s = seen))

let memoryStorageOps: StorageOps<MemoryStorage> =
    { New = fun () -> MemoryStorage.empty
      Append = MemoryStorage.append
      Compact = fun i s -> MemoryStorage.compact i s |> Result.defaultValue s
      First = MemoryStorage.firstIndex
      Last = MemoryStorage.lastIndex
      Read =
        fun s ->
            let fi, li = MemoryStorage.firstIndex s, MemoryStorage.lastIndex s
            if li < fi then []
            else
                MemoryStorage.entries fi (li + 1UL) System.UInt64.MaxValue s
                |> Result.defaultValue [||]
                |> Array.map (fun e -> e.Index, e.Term)
                |> List.ofArray }

/// A deliberately broken storage that changes one shared log in place.
let private inPlaceOps: StorageOps<ResizeArray<Entry>> =
    let first (l: ResizeArray<Entry>) = if l.Count = 0 then 1UL else l[0].Index
    { New = fun () -> ResizeArray()
      Append =
        fun es l ->
            // Truncate from the first new index, then append.
            let keep = int (es[0].Index - first l)
            if keep < l.Count then l.RemoveRange(keep, l.Count - keep)
            l.AddRange es
            l
      Compact =
        fun i l ->
            let drop = min l.Count (int (i - first l))
            l.RemoveRange(0, drop)
            l
      First = first
      Last = fun l -> first l + uint64 l.Count - 1UL
      Read = fun l -> l |> Seq.map (fun e -> e.Index, e.Term) |> List.ofSeq }

let private storageProgramsKeepVersions ops =
    property {
        let! program = Hog.listOf genStorageOp
        return storageVersionsStayIntact ops program
    }

[<Tests>]
let tests =
    testList "Persistence" [
        testCase "EntrySeq versions are unaffected by operations on other versions" <| fun () -> Hog.holdsBool (programsKeepVersions entrySeqOps)

        testCase "the property catches appends that overwrite a newer version's entries" <| fun () ->
            Expect.isTrue (Hog.caughtBool (programsKeepVersions unclaimedOps)) ("sharing without claiming must break some version")

        testCase "MemoryStorage versions are unaffected by appends and compactions of other versions" <| fun () ->
            Hog.holdsBool (storageProgramsKeepVersions memoryStorageOps)

        testCase "the storage property catches a storage that changes in place" <| fun () ->
            Expect.isTrue (Hog.caughtBool (storageProgramsKeepVersions inPlaceOps)) ("an in-place storage must break some version")
    ]
