/// A persistent run of log entries with consecutive indexes, cheap to append to, slice and drop a
/// prefix from. Values share one backing array: a value owns the cells [Start, Start+Count) of it,
/// and may append in place only while its end is the array's claimed length (claimed with an
/// atomic compare-and-swap), so an older or truncated value never sees a newer value's cells
/// change; it copies instead. Observationally this is an immutable list of entries.
namespace Raft.Core

open System

/// The array shared by EntrySeq values.
type internal EntryBuffer = SharedBuffer<Entry>

/// An immutable sequence of entries (see the module comment for the sharing scheme). A struct:
/// the log holds it inline, so that appending allocates nothing but, now and then, an array.
[<Struct; CustomEquality; NoComparison>]
type EntrySeq internal (buf: EntryBuffer, start: int, count: int) =
    member internal _.Buffer = buf
    member internal _.Start = start
    /// Number of entries.
    member _.Count = count
    member _.IsEmpty = count = 0
    /// The k-th entry (0-based).
    member _.Item
        with get (k: int) =
            if uint32 k >= uint32 count then EntrySeq.OutOfRange(k, count)
            buf.Items[start + k]

    // Kept out of the indexer so that the indexer stays small enough to inline.
    static member private OutOfRange(k: int, count: int) : unit =
        raise (ArgumentOutOfRangeException("k", sprintf "entry %d of %d" k count))

    /// A read-only view of the entries, without copying.
    member _.AsSpan() = if count = 0 then ReadOnlySpan<Entry>.Empty else ReadOnlySpan<Entry>(buf.Items, start, count)

    override s.Equals(o: obj) =
        match o with
        | :? EntrySeq as t ->
            t.Count = count
            && (let a = s.AsSpan()
                a.SequenceEqual(t.AsSpan()))
        | _ -> false

    override s.GetHashCode() =
        let mutable h = count
        for e in s.AsSpan() do
            h <- HashCode.Combine(h, e.Index, e.Term)
        h

    override s.ToString() = sprintf "EntrySeq(%d entries)" count

    interface System.IEquatable<EntrySeq> with
        member s.Equals(t: EntrySeq) =
            t.Count = count
            && (let a = s.AsSpan()
                a.SequenceEqual(t.AsSpan()))

    interface Collections.Generic.IEnumerable<Entry> with
        member s.GetEnumerator() : Collections.Generic.IEnumerator<Entry> =
            let items = s.AsSpan().ToArray()
            (items :> Collections.Generic.IEnumerable<Entry>).GetEnumerator()
        member s.GetEnumerator() : Collections.IEnumerator =
            let items = s.AsSpan().ToArray()
            (items :> Collections.IEnumerable).GetEnumerator()

[<RequireQualifiedAccess>]
module EntrySeq =
    let private newBuffer (items: Entry[]) (used: int) = EntryBuffer(items, used)

    /// The empty sequence.
    let empty = EntrySeq(newBuffer [||] 0, 0, 0)

    let count (s: EntrySeq) = s.Count
    let isEmpty (s: EntrySeq) = s.IsEmpty

    /// A sequence holding a copy of the given entries.
    let ofArray (es: Entry[]) =
        if es.Length = 0 then empty
        else EntrySeq(newBuffer (es.AsSpan().ToArray()) es.Length, 0, es.Length) // not Array.copy: Clone is slow for small arrays

    /// A sequence over `es` itself, which the caller hands over and never changes again.
    let internal ofOwnedArray (es: Entry[]) =
        if es.Length = 0 then empty else EntrySeq(newBuffer es es.Length, 0, es.Length)

    /// A sequence holding a copy of `src[from .. from+n-1]` in an array of `capacity` cells, so
    /// that it can grow in place up to that many.
    let internal ofRangeWithCapacity (src: Entry[]) (from: int) (n: int) (capacity: int) =
        if n = 0 then
            empty
        else
            let items = Array.zeroCreate (max n capacity)
            Array.Copy(src, from, items, 0, n)
            EntrySeq(newBuffer items n, 0, n)

    /// A sequence holding a copy of the given entries.
    let ofSeq (es: Entry seq) = ofArray (Array.ofSeq es)

    /// The entries copied into a new array.
    let toArray (s: EntrySeq) = s.AsSpan().ToArray()

    let first (s: EntrySeq) = s[0]
    let last (s: EntrySeq) = s[s.Count - 1]

    /// The entries [lo, hi) (0-based positions); shares storage.
    let sub (lo: int) (hi: int) (s: EntrySeq) =
        if lo < 0 || hi < lo || hi > s.Count then
            raise (ArgumentOutOfRangeException("lo", sprintf "sub [%d,%d) of %d entries" lo hi s.Count))
        if lo = hi then empty
        elif lo = 0 && hi = s.Count then s
        else EntrySeq(s.Buffer, s.Start + lo, hi - lo)

    /// The first n entries; shares storage.
    let take (n: int) (s: EntrySeq) = sub 0 n s

    /// All but the first n entries; shares storage.
    let skip (n: int) (s: EntrySeq) = sub n s.Count s

    /// `s` followed by `src[from .. from+n-1]`. Amortised O(n): in place when `s` ends where its
    /// buffer's claimed part ends, otherwise into a fresh buffer with room to grow.
    let appendRange (src: Entry[]) (from: int) (n: int) (s: EntrySeq) =
        if n = 0 then
            s
        else
            let buf = s.Buffer
            let endPos = s.Start + s.Count
            let next = endPos + n
            if next <= buf.Items.Length && buf.Used = endPos && buf.TryClaim(endPos, next) then
                Array.Copy(src, from, buf.Items, endPos, n)
                EntrySeq(buf, s.Start, s.Count + n)
            else
                let total = s.Count + n
                let items = Array.zeroCreate (max 8 (2 * total))
                Array.Copy(buf.Items, s.Start, items, 0, s.Count)
                Array.Copy(src, from, items, s.Count, n)
                EntrySeq(newBuffer items total, 0, total)

    /// `s` followed by `es`.
    let append (es: Entry[]) (s: EntrySeq) = appendRange es 0 es.Length s

    /// `s` followed by `t`.
    let concat (s: EntrySeq) (t: EntrySeq) = appendRange t.Buffer.Items t.Start t.Count s

    /// The longest prefix of `s` whose encoded size stays within maxSize, but at least one entry
    /// (etcd's limitSize).
    let limitSize (maxSize: uint64) (s: EntrySeq) =
        if s.Count <= 1 || maxSize = UInt64.MaxValue then
            s
        else
            // An entry's encoding takes at most 30 bytes besides its data (three tagged varints and
            // the data's tag and length): when even that bound fits, every entry does.
            let mutable bound = 0UL
            for e in s.AsSpan() do
                bound <- bound + 30UL + uint64 e.Data.Length
            if bound <= maxSize then
                s
            else
                let items = s.Buffer.Items
                let mutable size = uint64 (Codec.entrySize items[s.Start])
                let mutable limit = 1
                let mutable stop = false
                while not stop && limit < s.Count do
                    size <- size + uint64 (Codec.entrySize items[s.Start + limit])
                    if size > maxSize then stop <- true else limit <- limit + 1
                take limit s
