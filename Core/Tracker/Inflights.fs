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
/// etcd keeps a ring buffer that it mutates in place. Here the window is a persistent FIFO queue
/// (a front list, oldest first, and a back list, newest first): `add` conses onto the back,
/// `freeLE` pops from the front and reverses the back into the front when the front runs out, so
/// both are O(1) amortised and old values stay valid.
namespace Raft.Core

/// A bounded FIFO of log indexes. Equal windows (same size and contents) compare equal.
[<CustomEquality; NoComparison>]
type Inflights =
    private
        { Cap: int
          N: int
          // Invariant: Front is empty only when the whole window is (so its head is the oldest).
          Front: uint64 list
          Back: uint64 list }

    member private ins.Items = ins.Front @ List.rev ins.Back

    override ins.Equals(o: obj) =
        match o with
        | :? Inflights as other -> ins.Cap = other.Cap && ins.N = other.N && ins.Items = other.Items
        | _ -> false

    override ins.GetHashCode() = hash (ins.Cap, ins.Items)

    /// A summary for debugging: `inflights[3/256: 4 5 6]`.
    override ins.ToString() =
        sprintf "inflights[%d/%d: %s]" ins.N ins.Cap (ins.Items |> List.map string |> String.concat " ")

    /// Number of inflight messages (etcd's Count).
    member ins.Count = ins.N

    /// The most messages allowed in flight.
    member ins.Size = ins.Cap

    /// No more messages may be sent (etcd's Full).
    member ins.Full = ins.N = ins.Cap

[<RequireQualifiedAccess>]
module Inflights =
    /// An empty window allowing up to `size` messages in flight (etcd's NewInflights).
    let create (size: int) =
        { Cap = size
          N = 0
          Front = []
          Back = [] }

    let count (ins: Inflights) = ins.N
    let size (ins: Inflights) = ins.Cap
    let full (ins: Inflights) = ins.N = ins.Cap

    /// Records a message carrying entries up to `index`. The caller checks `full` first.
    let add (index: uint64) (ins: Inflights) =
        if ins.N = ins.Cap then
            invalidOp "cannot add into a Full inflights"
        elif ins.N = 0 then
            { ins with N = 1; Front = [ index ]; Back = [] }
        else
            { ins with N = ins.N + 1; Back = index :: ins.Back }

    /// Frees every inflight smaller than or equal to `index` (etcd's FreeLE).
    let freeLE (index: uint64) (ins: Inflights) =
        let rec drop front back n =
            match front with
            | x :: rest when x <= index -> drop rest back (n - 1)
            | [] when not (List.isEmpty back) -> drop (List.rev back) [] n
            | _ -> front, back, n
        match ins.Front with
        | first :: _ when first <= index ->
            // drop stops with a non-empty front or an empty window, which keeps the invariant.
            let front, back, n = drop ins.Front ins.Back ins.N
            { ins with N = n; Front = front; Back = back }
        | _ -> ins

    /// Frees the oldest inflight (and any equal to it); a no-op when nothing is in flight.
    let freeFirstOne (ins: Inflights) =
        match ins.Front with
        | first :: _ -> freeLE first ins
        | [] -> ins

    /// Frees everything (etcd's reset).
    let reset (ins: Inflights) =
        if ins.N = 0 then ins else create ins.Cap

    /// The inflight indexes, oldest first.
    let toList (ins: Inflights) = ins.Front @ List.rev ins.Back
