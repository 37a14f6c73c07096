/// Broken invariants: where etcd raft panics, Core raises this exception, naming what broke.
namespace Raft.Core

/// An invariant of the Raft state machine or its log does not hold (etcd panics here). The node
/// that raised it must not be used any further.
exception BrokenInvariant of string with
    override e.Message = e.Data0

module internal Invariant =
    /// Raises BrokenInvariant with the given text.
    let broken (text: string) : 'a = raise (BrokenInvariant text)
