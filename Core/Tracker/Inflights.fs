/// The bounded window of append messages sent to a follower and not yet acknowledged, each
/// represented by the last index it carries (etcd's tracker.Inflights).
///
/// API shape (immutable; every operation returns a new value, taking the window last):
///   - `Inflights.create size`; `full`, `count`, `size`.
///   - `Inflights.add index ins` — after checking `full`; indexes must be added in increasing order.
///     Adding to a full window is a broken invariant (etcd panics) and throws.
///   - `Inflights.freeLE index ins` — frees every inflight <= index; `freeFirstOne ins` frees the
///     oldest (a no-op when empty); `reset ins` frees all.
///   - `Inflights.toList ins` — the inflights, oldest first.
///
/// etcd keeps a ring buffer that it mutates in place. Here a window is a range [Start, Start+N)
/// of an array that successive windows share: freeing moves Start, and adding writes the cell
/// after the range in place only while no other window has claimed it (an atomic
/// compare-and-swap on the array's claimed length), so an older window never sees its cells
/// change; otherwise the window moves to a fresh array. A leader adds and frees one inflight per
/// append, so a window is a struct (held inline by its Progress) and an operation costs nothing
/// but an occasional array.
namespace Raft.Core

open System

/// The array shared by Inflights windows.
type internal InflightBuffer = SharedBuffer<uint64>

/// A bounded FIFO of log indexes. Equal windows (same size and contents) compare equal.
[<Struct; CustomEquality; NoComparison>]
type Inflights =
    private
        { Cap: int
          Buf: InflightBuffer
          Start: int
          N: int }

    member internal ins.Items = ins.Buf.Items.AsSpan(ins.Start, ins.N).ToArray()

    override ins.Equals(o: obj) =
        match o with
        | :? Inflights as other ->
            ins.Cap = other.Cap
            && ins.N = other.N
            && ReadOnlySpan<uint64>(ins.Buf.Items, ins.Start, ins.N).SequenceEqual(ReadOnlySpan<uint64>(other.Buf.Items, other.Start, other.N))
        | _ -> false

    override ins.GetHashCode() =
        let mutable h = ins.Cap
        for k in ins.Start .. ins.Start + ins.N - 1 do
            h <- HashCode.Combine(h, ins.Buf.Items[k])
        h

    /// A summary for debugging: `inflights[3/256: 4 5 6]`.
    override ins.ToString() =
        sprintf "inflights[%d/%d: %s]" ins.N ins.Cap (ins.Items |> Array.map string |> String.concat " ")

    /// Number of inflight messages (etcd's Count).
    member ins.Count = ins.N

    /// The most messages allowed in flight.
    member ins.Size = ins.Cap

    /// No more messages may be sent (etcd's Full).
    member ins.Full = ins.N = ins.Cap

[<RequireQualifiedAccess>]
module Inflights =
    let private noBuffer = InflightBuffer([||], 0)

    /// An empty window allowing up to `size` messages in flight (etcd's NewInflights).
    let create (size: int) =
        { Cap = size
          Buf = noBuffer
          Start = 0
          N = 0 }

    let count (ins: Inflights) = ins.N
    let size (ins: Inflights) = ins.Cap
    let full (ins: Inflights) = ins.N = ins.Cap

    /// Records a message carrying entries up to `index`. The caller checks `full` first.
    let add (index: uint64) (ins: Inflights) =
        if ins.N = ins.Cap then
            invalidOp "cannot add into a Full inflights"
        let next = ins.Start + ins.N
        if next < ins.Buf.Items.Length && ins.Buf.TryClaim next then
            ins.Buf.Items[next] <- index
            { ins with N = ins.N + 1 }
        else
            // Room for twice the window, at least 16, at most what the window can hold.
            let items = Array.zeroCreate (min ins.Cap (max 16 (2 * (ins.N + 1))))
            Array.Copy(ins.Buf.Items, ins.Start, items, 0, ins.N)
            items[ins.N] <- index
            { ins with Buf = InflightBuffer(items, ins.N + 1); Start = 0; N = ins.N + 1 }

    /// Frees every inflight smaller than or equal to `index` (etcd's FreeLE).
    let freeLE (index: uint64) (ins: Inflights) =
        let items = ins.Buf.Items
        let mutable k = 0
        while k < ins.N && items[ins.Start + k] <= index do
            k <- k + 1
        if k = 0 then ins
        elif k = ins.N then create ins.Cap
        else { ins with Start = ins.Start + k; N = ins.N - k }

    /// Frees the oldest inflight (and any equal to it); a no-op when nothing is in flight.
    let freeFirstOne (ins: Inflights) =
        if ins.N = 0 then ins else freeLE ins.Buf.Items[ins.Start] ins

    /// Frees everything (etcd's reset).
    let reset (ins: Inflights) =
        if ins.N = 0 then ins else create ins.Cap

    /// The inflight indexes, oldest first.
    let toList (ins: Inflights) = List.ofArray ins.Items
