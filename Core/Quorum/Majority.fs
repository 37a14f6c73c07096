/// A set of voter ids deciding by simple majority (etcd's quorum.MajorityConfig).
///
/// API shape (all values immutable; module functions take the config last):
///   - `MajorityConfig.empty`, `ofSeq`, `add id`, `remove id`, `contains id`, `count`, `isEmpty`,
///     `toList` (etcd's Slice: sorted ids), `iter`/`fold`/`exists` (increasing id order), `union`.
///   - `MajorityConfig.committedIndex (l: AckedIndexer) c : uint64` (and `committedIndexWith` with a
///     struct IAckedIndexer, which allocates nothing) — the largest index acknowledged
///     by a majority; `Quorum.infinity` for the empty config.
///   - `MajorityConfig.voteResult (votes: Map<uint64, bool>) c : VoteResult` (and `voteResultBy`
///     with a lookup function); the empty config wins every vote.
///   - `MajorityConfig.toString` — `(1 2 3)`; `describe l c` — the multi-line commit table etcd's
///     quorum tests print.
///
/// The ids are kept as a sorted array without duplicates: configs change rarely, while commit
/// computations iterate them on every acknowledgement, so iteration in id order is a plain loop.
namespace Raft.Core

#nowarn "9" // stackalloc in committedIndex: a scratch buffer that never leaves the function.

open System
open System.Text
open Microsoft.FSharp.NativeInterop

/// A set of voter ids that decides by simple majority. Equal configs compare equal.
[<CustomEquality; NoComparison>]
type MajorityConfig =
    private
        { Ids: uint64[] }

    override c.Equals(o: obj) =
        match o with
        | :? MajorityConfig as d -> c.Ids.AsSpan().SequenceEqual(ReadOnlySpan d.Ids)
        | _ -> false

    override c.GetHashCode() =
        let mutable h = 17
        for id in c.Ids do
            h <- h * 31 + id.GetHashCode()
        h

    /// etcd's MajorityConfig.String(): `(1 2 3)`.
    override c.ToString() = "(" + String.Join(" ", c.Ids) + ")"

    /// Number of voters.
    member c.Count = c.Ids.Length

    member c.Contains(id: uint64) = Array.BinarySearch(c.Ids, id) >= 0

[<RequireQualifiedAccess>]
module MajorityConfig =
    let empty = { Ids = [||] }

    let ofSeq (ids: uint64 seq) =
        { Ids = ids |> Seq.distinct |> Seq.toArray |> Array.sort }

    let count (c: MajorityConfig) = c.Ids.Length
    let isEmpty (c: MajorityConfig) = c.Ids.Length = 0
    let contains (id: uint64) (c: MajorityConfig) = c.Contains id

    let add (id: uint64) (c: MajorityConfig) =
        match Array.BinarySearch(c.Ids, id) with
        | i when i >= 0 -> c
        | i ->
            let at = ~~~i
            { Ids = Array.insertAt at id c.Ids }

    let remove (id: uint64) (c: MajorityConfig) =
        match Array.BinarySearch(c.Ids, id) with
        | i when i >= 0 -> { Ids = Array.removeAt i c.Ids }
        | _ -> c

    /// The ids in increasing order (etcd's Slice).
    let toList (c: MajorityConfig) = List.ofArray c.Ids

    /// The ids in increasing order, as a fresh array.
    let toArray (c: MajorityConfig) = Array.copy c.Ids

    let iter (f: uint64 -> unit) (c: MajorityConfig) = Array.iter f c.Ids
    let fold (f: 'S -> uint64 -> 'S) (state: 'S) (c: MajorityConfig) = Array.fold f state c.Ids
    let exists (f: uint64 -> bool) (c: MajorityConfig) = Array.exists f c.Ids

    /// The ids in either config.
    let union (a: MajorityConfig) (b: MajorityConfig) =
        if b.Ids.Length = 0 then a
        elif a.Ids.Length = 0 then b
        else ofSeq (Seq.append a.Ids b.Ids)

    /// etcd's MajorityConfig.String(): `(1 2 3)`.
    let toString (c: MajorityConfig) = c.ToString()

    /// etcd's MajorityConfig.Describe: one line per voter, in id order, with the acknowledged index
    /// and a bar whose length ranks that index among the others (`?` when unknown).
    let describe (l: AckedIndexer) (c: MajorityConfig) =
        let n = c.Ids.Length
        if n = 0 then
            "<empty majority quorum>"
        else
            let info =
                c.Ids
                |> Array.map (fun id ->
                    match l id with
                    | ValueSome idx -> struct (id, idx, true)
                    | ValueNone -> struct (id, 0UL, false))
                |> Array.sortBy (fun struct (id, idx, _) -> struct (idx, id))
            let idxAt i = let struct (_, idx, _) = info[i] in idx
            // By index, the i-th voter gets a bar of length i when its index exceeds its
            // predecessor's, and none otherwise (etcd's exact rule).
            let rows =
                info
                |> Array.mapi (fun i row -> row, (if i > 0 && idxAt (i - 1) < idxAt i then i else 0))
                |> Array.sortBy (fun (struct (id, _, _), _) -> id)
            let sb = StringBuilder()
            sb.Append(' ', n).Append("    idx\n") |> ignore
            for struct (id, idx, ok), bar in rows do
                if not ok then sb.Append('?').Append(' ', n) |> ignore
                else sb.Append('x', bar).Append('>').Append(' ', n - bar) |> ignore
                sb.Append(' ').Append(idx.ToString().PadLeft 5).Append("    (id=").Append(id).Append(")\n") |> ignore
            sb.ToString()

    /// The largest index acknowledged by a majority of the voters (etcd's CommittedIndex).
    /// Voters without a known index count as zero; the empty config commits `Quorum.infinity`.
    let committedIndexWith<'L when 'L :> IAckedIndexer and 'L: struct> (l: 'L) (c: MajorityConfig) : uint64 =
        let ids = c.Ids
        let n = ids.Length
        if n = 0 then
            Quorum.infinity
        else
            // Up to seven voters sort in a stack buffer, as etcd does, so the common case does not
            // allocate.
            let srt =
                if n <= 7 then Span<uint64>(NativePtr.toVoidPtr (NativePtr.stackalloc<uint64> 7), n)
                else Span<uint64>(Array.zeroCreate<uint64> n)
            srt.Clear()
            // Fill from the right; unknown voters stay zero and sort to the left.
            let mutable i = n - 1
            for id in ids do
                match l.Acked id with
                | ValueSome idx ->
                    srt[i] <- idx
                    i <- i - 1
                | ValueNone -> ()
            for j in 1 .. n - 1 do
                let mutable k = j
                while k > 0 && srt[k] < srt[k - 1] do
                    let t = srt[k]
                    srt[k] <- srt[k - 1]
                    srt[k - 1] <- t
                    k <- k - 1
            // From the right end, n/2+1 voters have acknowledged at least this index.
            srt[n - (n / 2 + 1)]

    /// committedIndexWith over an AckedIndexer function.
    let committedIndex (l: AckedIndexer) (c: MajorityConfig) : uint64 = committedIndexWith (AckedIndexerFunc l) c

    /// Whether a majority voted yes (VoteWon), no (VoteLost), or it is still open (VotePending).
    /// `vote id` is the vote of a voter, ValueNone when it has not voted. The empty config wins.
    let voteResultBy (vote: uint64 -> bool voption) (c: MajorityConfig) =
        let n = c.Ids.Length
        if n = 0 then
            VoteWon
        else
            let mutable yes = 0
            let mutable missing = 0
            for id in c.Ids do
                match vote id with
                | ValueSome true -> yes <- yes + 1
                | ValueSome false -> ()
                | ValueNone -> missing <- missing + 1
            let q = n / 2 + 1
            if yes >= q then VoteWon
            elif yes + missing >= q then VotePending
            else VoteLost

    /// etcd's MajorityConfig.VoteResult over a map from voter id to its vote.
    let voteResult (votes: Map<uint64, bool>) (c: MajorityConfig) =
        voteResultBy
            (fun id ->
                match votes.TryGetValue id with
                | true, v -> ValueSome v
                | _ -> ValueNone)
            c
