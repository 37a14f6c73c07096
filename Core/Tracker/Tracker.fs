/// The active configuration and what the leader knows of every peer in it (etcd's
/// tracker.Config and tracker.ProgressTracker).
///
/// API shape (immutable; functions take the tracker last and return a new one):
///   - `TrackerConfig` (etcd's tracker.Config): Voters (a JointConfig), AutoLeave, Learners,
///     LearnersNext (MajorityConfig used as plain id sets). `TrackerConfig.toString` gives
///     `voters=(1 2)&&(1) learners=(3) learners_next=(4) autoleave`.
///   - `ProgressTracker` record: Config, Progress (a ProgressMap), Votes (Map<uint64, bool>),
///     MaxInflight.
///   - `ProgressTracker.make maxInflight`; queries `confState`, `isSingleton`, `committed`,
///     `quorumActive`, `voterNodes`, `learnerNodes` (sorted lists), `tallyVotes` (granted,
///     rejected, result).
///   - `visit f t` calls `f id progress` in increasing id order (as etcd's Visit); `fold` likewise.
///     To change progresses use `mapProgress f t` (etcd's Visit with a mutating closure),
///     `updateProgress id f t` / `setProgress id pr t` (etcd's `pr := prs.Progress[id]; pr.X = ...`),
///     and `tryProgress id t`.
///   - `resetVotes t`, `recordVote id v t` (the first vote of a peer sticks).
///   - `withConfig cfg prs t` installs what a Changer returned (etcd's
///     `r.prs.Config, r.prs.Progress = cfg, prs`).
namespace Raft.Core

open System.Text

/// The configuration a ProgressTracker tracks (etcd's tracker.Config).
///
/// Invariant (kept by the Changer): Learners and the voters of either half are disjoint;
/// LearnersNext holds voters of the outgoing half that become learners on leaving the joint config.
/// etcd distinguishes nil from empty learner sets only to keep them nil when empty, which is how
/// it prints them; an empty set here prints the same way.
[<NoComparison>]
type TrackerConfig =
    { Voters: JointConfig
      /// The config is joint and should be left automatically when possible.
      AutoLeave: bool
      Learners: MajorityConfig
      LearnersNext: MajorityConfig }

    /// etcd's Config.String().
    override c.ToString() =
        let sb = StringBuilder()
        sb.Append("voters=").Append(c.Voters.ToString()) |> ignore
        if c.Learners.Count > 0 then sb.Append(" learners=").Append(c.Learners.ToString()) |> ignore
        if c.LearnersNext.Count > 0 then sb.Append(" learners_next=").Append(c.LearnersNext.ToString()) |> ignore
        if c.AutoLeave then sb.Append(" autoleave") |> ignore
        sb.ToString()

[<RequireQualifiedAccess>]
module TrackerConfig =
    /// No voters, no learners.
    let empty =
        { Voters = JointConfig.empty
          AutoLeave = false
          Learners = MajorityConfig.empty
          LearnersNext = MajorityConfig.empty }

    let toString (c: TrackerConfig) = c.ToString()

/// The active configuration with the progress of each peer and the votes of the current election
/// (etcd's tracker.ProgressTracker).
[<NoComparison>]
type ProgressTracker =
    { Config: TrackerConfig
      Progress: ProgressMap
      Votes: Map<uint64, bool>
      MaxInflight: int }

[<RequireQualifiedAccess>]
module ProgressTracker =
    /// An empty tracker (etcd's MakeProgressTracker).
    let make (maxInflight: int) =
        { Config = TrackerConfig.empty
          Progress = Map.empty
          Votes = Map.empty
          MaxInflight = maxInflight }

    /// Installs a configuration and progress map computed by a Changer.
    let withConfig (cfg: TrackerConfig) (prs: ProgressMap) (t: ProgressTracker) =
        { t with Config = cfg; Progress = prs }

    /// The active configuration as a ConfState (ids sorted).
    let confState (t: ProgressTracker) : ConfState =
        { Voters = MajorityConfig.toList t.Config.Voters.Incoming
          VotersOutgoing = MajorityConfig.toList t.Config.Voters.Outgoing
          Learners = MajorityConfig.toList t.Config.Learners
          LearnersNext = MajorityConfig.toList t.Config.LearnersNext
          AutoLeave = t.Config.AutoLeave }

    /// Exactly one voter (the leader itself) and no joint config.
    let isSingleton (t: ProgressTracker) =
        t.Config.Voters.Incoming.Count = 1 && t.Config.Voters.Outgoing.Count = 0

    /// The largest log index a quorum of voters has acknowledged (their Match).
    let committed (t: ProgressTracker) : uint64 =
        let prs = t.Progress
        JointConfig.committedIndex
            (fun id ->
                match prs.TryGetValue id with
                | true, pr -> ValueSome pr.Match
                | _ -> ValueNone)
            t.Config.Voters

    /// Calls `f id progress` for every tracked peer in increasing id order.
    let visit (f: uint64 -> Progress -> unit) (t: ProgressTracker) = Map.iter f t.Progress

    /// Folds over the tracked peers in increasing id order.
    let fold (f: 'S -> uint64 -> Progress -> 'S) (state: 'S) (t: ProgressTracker) = Map.fold f state t.Progress

    /// Replaces every progress with `f id progress`.
    let mapProgress (f: uint64 -> Progress -> Progress) (t: ProgressTracker) =
        { t with Progress = Map.map f t.Progress }

    let tryProgress (id: uint64) (t: ProgressTracker) = Map.tryFind id t.Progress

    /// Stores the progress of `id`.
    let setProgress (id: uint64) (pr: Progress) (t: ProgressTracker) =
        { t with Progress = Map.add id pr t.Progress }

    /// Applies `f` to the progress of `id`; unchanged when `id` is not tracked.
    let updateProgress (id: uint64) (f: Progress -> Progress) (t: ProgressTracker) =
        match t.Progress.TryGetValue id with
        | true, pr -> { t with Progress = Map.add id (f pr) t.Progress }
        | _ -> t

    /// A quorum of voters has been recently active (CheckQuorum).
    let quorumActive (t: ProgressTracker) =
        let prs = t.Progress
        let active id =
            match prs.TryGetValue id with
            | true, pr when not pr.IsLearner -> ValueSome pr.RecentActive
            | _ -> ValueNone
        JointConfig.voteResultBy active t.Config.Voters = VoteWon

    /// The voters of both halves, sorted.
    let voterNodes (t: ProgressTracker) = JointConfig.ids t.Config.Voters |> MajorityConfig.toList

    /// The learners, sorted.
    let learnerNodes (t: ProgressTracker) = MajorityConfig.toList t.Config.Learners

    /// Forgets the votes of the last election.
    let resetVotes (t: ProgressTracker) =
        if t.Votes.IsEmpty then t else { t with Votes = Map.empty }

    /// Records the vote of `id` (true: granted); only its first vote counts.
    let recordVote (id: uint64) (v: bool) (t: ProgressTracker) =
        if t.Votes.ContainsKey id then t else { t with Votes = Map.add id v t.Votes }

    /// The granted and rejected votes among tracked voters, and the election's outcome.
    let tallyVotes (t: ProgressTracker) : int * int * VoteResult =
        // Counts only tracked voters, even if votes of removed peers were recorded; the counts are
        // informational, the result is what decides.
        let mutable granted = 0
        let mutable rejected = 0
        for KeyValue(id, pr) in t.Progress do
            if not pr.IsLearner then
                match t.Votes.TryGetValue id with
                | true, true -> granted <- granted + 1
                | true, false -> rejected <- rejected + 1
                | _ -> ()
        granted, rejected, JointConfig.voteResult t.Votes t.Config.Voters
