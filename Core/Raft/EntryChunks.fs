/// The stable log's entries as a persistent run of chunks: EntrySeq views of at most ChunkSize
/// entries each, every chunk but the last full when it was written. A long log that is appended
/// to at one end and compacted at the other then never copies what it already holds, and its
/// arrays stay small: one array per ChunkSize entries, which the garbage collector moves at most
/// a few times, where a single doubling array would be copied whole (and moved again) every time
/// it grows. Values are immutable; they share chunks with the values they were made from.
namespace Raft.Core

open System

/// A run of consecutive entries held in chunks (a struct: the storage holds it inline). The last
/// chunk is kept apart from the others, so that an append that fits in it, the usual one,
/// allocates nothing but the view.
[<Struct; NoEquality; NoComparison>]
type internal EntryChunks =
    /// Every chunk but the last, oldest first; none is empty.
    val Chunks: EntrySeq[]
    val Last: EntrySeq
    val Count: int
    new(chunks, last, count) = { Chunks = chunks; Last = last; Count = count }

[<RequireQualifiedAccess>]
module internal EntryChunks =
    /// Entries per chunk: 8 KB of references, small enough that chunks are cheap to move and to
    /// allocate, large enough that a log of thousands of entries has only a few.
    [<Literal>]
    let ChunkSize = 1024

    let empty = EntryChunks([||], EntrySeq.empty, 0)

    let private chunk (i: int) (c: EntryChunks) = if i < c.Chunks.Length then c.Chunks[i] else c.Last

    /// The chunk holding position k (0-based; the caller checks the bounds) and k's position
    /// within it; the chunk after the others (index Chunks.Length) is Last.
    let private locate (k: int) (c: EntryChunks) =
        let chunks = c.Chunks
        let mutable i = 0
        let mutable p = k
        while i < chunks.Length && p >= chunks[i].Count do
            p <- p - chunks[i].Count
            i <- i + 1
        struct (i, p)

    /// The entry at position k (0-based); the caller checks the bounds.
    let item (k: int) (c: EntryChunks) =
        let struct (i, p) = locate k c
        (chunk i c)[p]

    /// `c` followed by `src[from .. from+n-1]`: the last chunk is filled up (in place when no other
    /// value has claimed its cells), then new chunks are started.
    let appendRange (src: Entry[]) (from: int) (n: int) (c: EntryChunks) =
        if n = 0 then
            c
        else
            let mutable chunks = c.Chunks
            let mutable last = c.Last
            let mutable from = from
            let mutable left = n
            while left > 0 do
                // Fill the last chunk only where its array has room: never copy a chunk to grow it.
                let room =
                    if last.Count > 0 && last.Start + last.Count < last.Buffer.Items.Length then ChunkSize - last.Count
                    else 0
                if room > 0 then
                    let k = min left room
                    last <- EntrySeq.appendRange src from k last
                    from <- from + k
                    left <- left - k
                else
                    if last.Count > 0 then chunks <- Array.append chunks [| last |]
                    let k = min left ChunkSize
                    last <- EntrySeq.ofRangeWithCapacity src from k ChunkSize
                    from <- from + k
                    left <- left - k
            EntryChunks(chunks, last, c.Count + n)

    /// The entries of an array, in chunks.
    let ofArray (es: Entry[]) = appendRange es 0 es.Length empty

    /// The first n entries.
    let take (n: int) (c: EntryChunks) =
        if n >= c.Count then
            c
        elif n = 0 then
            empty
        else
            let struct (i, p) = locate (n - 1) c
            EntryChunks(Array.sub c.Chunks 0 i, EntrySeq.take (p + 1) (chunk i c), n)

    /// All but the first n entries.
    let skip (n: int) (c: EntryChunks) =
        if n = 0 then
            c
        elif n >= c.Count then
            empty
        else
            let struct (i, p) = locate n c
            if i < c.Chunks.Length then
                let chunks = Array.sub c.Chunks i (c.Chunks.Length - i)
                chunks[0] <- EntrySeq.skip p chunks[0]
                EntryChunks(chunks, c.Last, c.Count - n)
            else
                EntryChunks([||], EntrySeq.skip p c.Last, c.Count - n)

    /// The entries [lo, hi) as one sequence: a view of a chunk when they lie in one, a copy
    /// otherwise.
    let sub (lo: int) (hi: int) (c: EntryChunks) =
        if lo < 0 || hi < lo || hi > c.Count then
            raise (ArgumentOutOfRangeException("lo", sprintf "sub [%d,%d) of %d entries" lo hi c.Count))
        if lo = hi then
            EntrySeq.empty
        else
            let struct (i, p) = locate lo c
            let first = chunk i c
            if p + (hi - lo) <= first.Count then
                EntrySeq.sub p (p + hi - lo) first
            else
                let items = Array.zeroCreate (hi - lo)
                let mutable filled = 0
                let mutable i = i
                let mutable p = p
                while filled < items.Length do
                    let span = (chunk i c).AsSpan()
                    let k = min (span.Length - p) (items.Length - filled)
                    span.Slice(p, k).CopyTo(items.AsSpan(filled, k))
                    filled <- filled + k
                    i <- i + 1
                    p <- 0
                EntrySeq.ofOwnedArray items
