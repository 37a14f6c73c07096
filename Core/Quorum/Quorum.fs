/// Shared vocabulary of etcd's raft/quorum package.
///
/// API shape:
///   - `VoteResult`: VotePending | VoteLost | VoteWon (etcd's quorum.VoteResult).
///   - `AckedIndexer`: `uint64 -> uint64 voption`, the log index a voter has acknowledged, or
///     ValueNone when nothing is known about it (etcd's quorum.AckedIndexer). Log indexes are plain
///     `uint64`; `Quorum.infinity` (UInt64.MaxValue) is what the empty majority "commits".
///   - `Quorum.indexString`, `Quorum.voteResultName`: etcd's String() forms (`∞`, `VoteWon`).
///   - `Quorum.ackedIndexerOfMap`: an AckedIndexer over a `Map<uint64, uint64>`.
namespace Raft.Core

/// The outcome of a vote (etcd's quorum.VoteResult).
type VoteResult =
    /// Neither "yes" nor "no" has reached a quorum yet: the outcome depends on future votes.
    | VotePending
    /// A quorum has voted "no".
    | VoteLost
    /// A quorum has voted "yes".
    | VoteWon

/// The index a voter has acknowledged, ValueNone when unknown (etcd's quorum.AckedIndexer).
/// A known zero differs from unknown.
type AckedIndexer = uint64 -> uint64 voption

/// An AckedIndexer as an interface, for callers that implement it with a struct so that asking
/// a quorum for its committed index allocates no closure (the leader asks on every
/// acknowledgement).
type IAckedIndexer =
    /// The index the voter acknowledged; ValueNone when nothing is known about it.
    abstract Acked: id: uint64 -> uint64 voption

/// An AckedIndexer function behind IAckedIndexer.
[<Struct>]
type internal AckedIndexerFunc(f: AckedIndexer) =
    interface IAckedIndexer with
        member _.Acked id = f id

/// Helpers shared by majority and joint quorums.
[<RequireQualifiedAccess>]
module Quorum =
    /// The index committed by the empty majority config, so that a joint config with one empty half
    /// behaves like its other half.
    [<Literal>]
    let infinity = System.UInt64.MaxValue

    /// etcd's quorum.Index.String(): the number, or `∞` for the largest index.
    let indexString (i: uint64) = if i = infinity then "∞" else string i

    /// etcd's VoteResult.String().
    let voteResultName =
        function
        | VotePending -> "VotePending"
        | VoteLost -> "VoteLost"
        | VoteWon -> "VoteWon"

    /// An AckedIndexer reading a map from voter id to acknowledged index.
    let ackedIndexerOfMap (m: Map<uint64, uint64>) : AckedIndexer =
        fun id ->
            match m.TryGetValue id with
            | true, idx -> ValueSome idx
            | _ -> ValueNone
