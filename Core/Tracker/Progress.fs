/// A follower's progress as the leader sees it (etcd's tracker.Progress) and the map of them
/// (etcd's tracker.ProgressMap).
///
/// API shape (immutable; functions take the progress last and return a new one):
///   - `Progress` record with etcd's fields: Match, Next, State (StateProbe | StateReplicate |
///     StateSnapshot), PendingSnapshot, RecentActive, ProbeSent, Inflights, IsLearner.
///     Set a field with `{ pr with RecentActive = true }`.
///   - `Progress.create maxInflight next isLearner` — a fresh progress in StateProbe.
///   - Transitions: `resetState`, `probeAcked`, `becomeProbe`, `becomeReplicate`,
///     `becomeSnapshot snapshotIndex`, `optimisticUpdate n`.
///   - `Progress.maybeUpdate n pr : bool * Progress` — true when n advanced Match.
///   - `Progress.maybeDecrTo rejected matchHint pr : bool * Progress` — false for a stale rejection.
///   - `Progress.isPaused pr`; `Progress.toString pr` (etcd's String()).
///   - `ProgressMap = Map<uint64, Progress>`; `ProgressMap.toString m` — one `id: progress` line per
///     entry in id order, each ending in a newline.
///
/// etcd mutates a `*Progress` shared through the tracker's map; here the caller stores the
/// returned value back (see `ProgressTracker.updateProgress`).
namespace Raft.Core

open System.Text

/// How the leader replicates to a follower (etcd's tracker.StateType).
type ProgressState =
    /// The follower's last index is unknown: send at most one append per heartbeat and probe.
    | StateProbe
    /// Steady state: appends are sent eagerly, limited by the inflight window.
    | StateReplicate
    /// The follower needs a snapshot; no appends until it is applied or fails.
    | StateSnapshot

/// A follower's progress in the view of the leader.
[<NoComparison>]
type Progress =
    { Match: uint64
      Next: uint64
      State: ProgressState
      /// In StateSnapshot, the index of the snapshot being sent (0 when none).
      PendingSnapshot: uint64
      /// Heard from recently; reset by the leader each election timeout under CheckQuorum.
      RecentActive: bool
      /// In StateProbe, an append is outstanding: pause until it is acknowledged.
      ProbeSent: bool
      /// Appends in flight (StateReplicate).
      Inflights: Inflights
      IsLearner: bool }

/// Progress of every tracked peer, by id.
type ProgressMap = Map<uint64, Progress>

[<RequireQualifiedAccess>]
module Progress =
    /// etcd's StateType.String().
    let stateName =
        function
        | StateProbe -> "StateProbe"
        | StateReplicate -> "StateReplicate"
        | StateSnapshot -> "StateSnapshot"

    /// A progress in StateProbe with nothing acknowledged and `next` as the next index to send.
    let create (maxInflight: int) (next: uint64) (isLearner: bool) =
        { Match = 0UL
          Next = next
          State = StateProbe
          PendingSnapshot = 0UL
          RecentActive = false
          ProbeSent = false
          Inflights = Inflights.create maxInflight
          IsLearner = isLearner }

    /// Moves into `state`, clearing ProbeSent, PendingSnapshot and the inflights.
    let resetState (state: ProgressState) (pr: Progress) =
        { pr with
            ProbeSent = false
            PendingSnapshot = 0UL
            State = state
            Inflights = Inflights.reset pr.Inflights }

    /// The peer accepted an append: further appends may go out without delay.
    let probeAcked (pr: Progress) = if pr.ProbeSent then { pr with ProbeSent = false } else pr

    /// Moves into StateProbe with Next = Match+1, or past a snapshot that was just sent.
    let becomeProbe (pr: Progress) =
        match pr.State with
        | StateSnapshot ->
            // The pending snapshot reached the peer: probe from just after it.
            let pending = pr.PendingSnapshot
            { resetState StateProbe pr with Next = max (pr.Match + 1UL) (pending + 1UL) }
        | _ -> { resetState StateProbe pr with Next = pr.Match + 1UL }

    /// Moves into StateReplicate with Next = Match+1.
    let becomeReplicate (pr: Progress) =
        { resetState StateReplicate pr with Next = pr.Match + 1UL }

    /// Moves into StateSnapshot, waiting for the snapshot at `snapshotIndex`.
    let becomeSnapshot (snapshotIndex: uint64) (pr: Progress) =
        { resetState StateSnapshot pr with PendingSnapshot = snapshotIndex }

    /// An acknowledgement of index `n` arrived. False when it is stale (Match does not advance);
    /// Next never moves back.
    let maybeUpdateV (n: uint64) (pr: Progress) : struct (bool * Progress) =
        if pr.Match < n then
            // One copy for Match, Next and ProbeSent (the leader does this per acknowledgement).
            struct (true, { pr with Match = n; Next = max pr.Next (n + 1UL); ProbeSent = false })
        elif pr.Next < n + 1UL then
            struct (false, { pr with Next = n + 1UL })
        else
            struct (false, pr)

    /// maybeUpdateV as a pair.
    let maybeUpdate (n: uint64) (pr: Progress) : bool * Progress =
        let struct (updated, pr) = maybeUpdateV n pr
        updated, pr

    /// Appends up to and including `n` are in flight.
    let optimisticUpdate (n: uint64) (pr: Progress) = { pr with Next = n + 1UL }

    /// The peer rejected the append at index `rejected`, hinting it has entries up to `matchHint`.
    /// False (and unchanged) for a stale rejection; otherwise Next is lowered and probing resumes.
    let maybeDecrTo (rejected: uint64) (matchHint: uint64) (pr: Progress) : bool * Progress =
        match pr.State with
        | StateReplicate ->
            // Stale when it rejects what was already matched.
            if rejected <= pr.Match then false, pr
            else true, { pr with Next = pr.Match + 1UL }
        | _ ->
            // Outside StateReplicate the peer is probed one append at a time, so only a rejection of
            // Next-1 is current.
            if pr.Next - 1UL <> rejected then
                false, pr
            else
                true, { pr with Next = max (min rejected (matchHint + 1UL)) 1UL; ProbeSent = false }

    /// Sending appends is throttled: a probe is outstanding, the window is full, or a snapshot is
    /// pending.
    let isPaused (pr: Progress) =
        match pr.State with
        | StateProbe -> pr.ProbeSent
        | StateReplicate -> pr.Inflights.Full
        | StateSnapshot -> true

    /// etcd's Progress.String():
    /// `StateReplicate match=5 next=6 learner paused pendingSnap=7 inactive inflight=2[full]`.
    let toString (pr: Progress) =
        let sb = StringBuilder()
        sb.Append(stateName pr.State).Append(" match=").Append(pr.Match).Append(" next=").Append(pr.Next) |> ignore
        if pr.IsLearner then sb.Append(" learner") |> ignore
        if isPaused pr then sb.Append(" paused") |> ignore
        if pr.PendingSnapshot > 0UL then sb.Append(" pendingSnap=").Append(pr.PendingSnapshot) |> ignore
        if not pr.RecentActive then sb.Append(" inactive") |> ignore
        let n = pr.Inflights.Count
        if n > 0 then
            sb.Append(" inflight=").Append(n) |> ignore
            if pr.Inflights.Full then sb.Append("[full]") |> ignore
        sb.ToString()

[<RequireQualifiedAccess>]
module ProgressMap =
    /// etcd's ProgressMap.String(): `id: progress` per line, in increasing id order.
    let toString (m: ProgressMap) =
        let sb = StringBuilder()
        for KeyValue(id, pr) in m do
            sb.Append(id).Append(": ").Append(Progress.toString pr).Append('\n') |> ignore
        sb.ToString()
