/// The stable log's chunked entries (EntryChunks) against a plain array model: appends across
/// chunk boundaries, truncations and compactions, each on some earlier version, and every
/// version keeps what it held.
module Raft.Core.Tests.EntryChunksTests

open System
open Expecto
open Hedgehog
open Hedgehog.FSharp
open Raft.Core
open Raft.Core.Tests.PropertyCheck

/// The operations under test; a broken variant replaces one.
type private ChunkOps =
    { Append: Entry[] -> EntryChunks -> EntryChunks
      Take: int -> EntryChunks -> EntryChunks
      Skip: int -> EntryChunks -> EntryChunks
      Sub: int -> int -> EntryChunks -> EntrySeq
      Item: int -> EntryChunks -> Entry }

let private realOps =
    { Append = fun es c -> EntryChunks.appendRange es 0 es.Length c
      Take = EntryChunks.take
      Skip = EntryChunks.skip
      Sub = EntryChunks.sub
      Item = EntryChunks.item }

/// An operation on the version picked by `From` (modulo the number of versions so far); sizes
/// and positions are scaled to the version's length.
type private ChunkOp =
    | Append of From: int * Count: int
    | Take of From: int * Per1000: int
    | Skip of From: int * Per1000: int

let private genOp =
    let v = Hog.intIn 0 1000
    let frac = Hog.intIn 0 1000
    Gen.frequency
        [ 4, Gen.map2 (fun v n -> Append(v, n)) v (Gen.frequency [ 3, Hog.intIn 0 40; 2, Hog.intIn 0 2500 ])
          1, Gen.map2 (fun v f -> Take(v, f)) v frac
          1, Gen.map2 (fun v f -> Skip(v, f)) v frac ]

/// Every version holds its model's entries, entry by entry and as sub-sequences (one per chunk
/// boundary region and a few others).
let private holdsModel (ops: ChunkOps) (c: EntryChunks) (model: Entry[]) =
    c.Count = model.Length
    && (model.Length = 0 || (ops.Sub 0 model.Length c).AsSpan().SequenceEqual(ReadOnlySpan model))
    && Seq.forall (fun k -> obj.ReferenceEquals(ops.Item k c, model[k])) (seq { 0 .. 97 .. model.Length - 1 })
    && Seq.forall
        (fun lo ->
            let hi = min model.Length (lo + 37)
            (ops.Sub lo hi c).AsSpan().SequenceEqual(ReadOnlySpan(model, lo, hi - lo)))
        (seq { 0 .. 211 .. model.Length - 1 })

let private versionsStayIntact (ops: ChunkOps) (program: ChunkOp list) =
    let versions = ResizeArray<EntryChunks * Entry[]>([ EntryChunks.empty, [||] ])
    let mutable next = 1UL
    program
    |> List.forall (fun op ->
        let pick v = versions[v % versions.Count]
        match op with
        | Append(v, n) ->
            let c, model = pick v
            let es = Array.init n (fun i -> { Term = 1UL; Index = next + uint64 i; Type = EntryNormal; Data = [||] })
            next <- next + uint64 n
            versions.Add(ops.Append es c, Array.append model es)
        | Take(v, f) ->
            let c, model = pick v
            let n = model.Length * f / 1000
            versions.Add(ops.Take n c, Array.sub model 0 n)
        | Skip(v, f) ->
            let c, model = pick v
            let n = model.Length * f / 1000
            versions.Add(ops.Skip n c, Array.sub model n (model.Length - n))
        versions |> Seq.forall (fun (c, model) -> holdsModel ops c model))

let private chunksProperty ops =
    property {
        let! program = Hog.listOf genOp |> Gen.map (List.truncate 12)
        return versionsStayIntact ops program
    }

/// A deliberately broken lookup: it finds an entry's chunk by dividing by the chunk size, as if
/// every chunk were full, which is wrong once compaction has shortened the first chunk.
let private brokenItem (k: int) (c: EntryChunks) =
    let chunks = Array.append c.Chunks [| c.Last |]
    let i = min (k / EntryChunks.ChunkSize) (chunks.Length - 1)
    let p = k - i * EntryChunks.ChunkSize
    let chunk = chunks[i]
    if p < chunk.Count then chunk[p] else chunks[i + 1][p - chunk.Count]

[<Tests>]
let tests =
    testList "EntryChunks" [
        testCase "chunked entries hold what a plain array holds, in every version" <| fun () -> Hog.holdsBool (chunksProperty realOps)

        testCase "the property catches a lookup that assumes full chunks" <| fun () ->
            Expect.isTrue (Hog.caughtBool (chunksProperty { realOps with Item = brokenItem })) ("a lookup by division must miss entries after compaction")
    ]
