/// The array behind the persistent views that share one (Inflights windows, EntrySeq runs,
/// Outbox queues). A view owns a range of cells; it may write the cells after its range in place
/// only when it is the first to claim them, with an atomic compare-and-swap on how many cells
/// some view has claimed, so an older view never sees its cells change; a view that loses the
/// race copies into a fresh array instead.
namespace Raft.Core

open System.Threading

/// An array shared by persistent views, and how many of its cells some view has claimed.
[<Sealed; AllowNullLiteral>]
type internal SharedBuffer<'T> =
    val Items: 'T[]
    val mutable private used: int
    new(items, used) = { Items = items; used = used }
    /// How many cells some view has claimed.
    member b.Used = Volatile.Read(&b.used)
    /// Claims the cells [expected, next) for the caller; false when another view claimed first.
    member b.TryClaim(expected: int, next: int) =
        Interlocked.CompareExchange(&b.used, next, expected) = expected
    /// Claims the cell `expected` for the caller; false when another view claimed it first.
    member b.TryClaim(expected: int) = b.TryClaim(expected, expected + 1)
