/// Two majority configs that must both agree (etcd's quorum.JointConfig).
///
/// API shape: `JointConfig = { Incoming; Outgoing }` — etcd's `Voters[0]` is `Incoming` and
/// `Voters[1]` is `Outgoing`; `Outgoing` is empty when the config is not joint.
///   - `JointConfig.empty`, `ofIncoming`, `isJoint`, `ids` (all voters as a MajorityConfig),
///     `toString` (`(1 2)&&(3)`, or `(1 2)` when not joint), `describe l c`.
///   - `JointConfig.committedIndex l c` (and `committedIndexWith` with a struct IAckedIndexer) — the
///     smaller of the two halves' committed indexes.
///   - `JointConfig.voteResult votes c` (and `voteResultBy`) — won only when both halves win,
///     lost when either loses.
namespace Raft.Core

/// A joint configuration: decisions need majorities in both halves.
type JointConfig =
    { Incoming: MajorityConfig
      Outgoing: MajorityConfig }

    /// etcd's JointConfig.String(): `(1 2)&&(3)`, or just the incoming half when not joint.
    override c.ToString() =
        if c.Outgoing.Count > 0 then c.Incoming.ToString() + "&&" + c.Outgoing.ToString()
        else c.Incoming.ToString()

[<RequireQualifiedAccess>]
module JointConfig =
    let empty = { Incoming = MajorityConfig.empty; Outgoing = MajorityConfig.empty }

    /// A non-joint config with the given voters.
    let ofIncoming (c: MajorityConfig) = { Incoming = c; Outgoing = MajorityConfig.empty }

    /// Whether the outgoing half is populated.
    let isJoint (c: JointConfig) = c.Outgoing.Count > 0

    /// Every voter of either half (etcd's IDs).
    let ids (c: JointConfig) = MajorityConfig.union c.Incoming c.Outgoing

    let toString (c: JointConfig) = c.ToString()

    /// etcd's JointConfig.Describe: the majority table over all voters.
    let describe (l: AckedIndexer) (c: JointConfig) = MajorityConfig.describe l (ids c)

    /// The largest index committed in both halves.
    let committedIndexWith<'L when 'L :> IAckedIndexer and 'L: struct> (l: 'L) (c: JointConfig) =
        let i0 = MajorityConfig.committedIndexWith l c.Incoming
        let i1 = MajorityConfig.committedIndexWith l c.Outgoing
        min i0 i1

    /// committedIndexWith over an AckedIndexer function.
    let committedIndex (l: AckedIndexer) (c: JointConfig) =
        let i0 = MajorityConfig.committedIndex l c.Incoming
        let i1 = MajorityConfig.committedIndex l c.Outgoing
        min i0 i1

    let private combine r1 r2 =
        if r1 = r2 then r1
        elif r1 = VoteLost || r2 = VoteLost then VoteLost
        else VotePending

    /// Joint vote outcome: both halves must win; either losing loses.
    let voteResultBy (vote: uint64 -> bool voption) (c: JointConfig) =
        combine (MajorityConfig.voteResultBy vote c.Incoming) (MajorityConfig.voteResultBy vote c.Outgoing)

    let voteResult (votes: Map<uint64, bool>) (c: JointConfig) =
        combine (MajorityConfig.voteResult votes c.Incoming) (MajorityConfig.voteResult votes c.Outgoing)
