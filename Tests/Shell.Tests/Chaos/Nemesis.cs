using System.Globalization;

namespace Raft.Shell.Tests.Chaos;

/// <summary>The kinds of fault the harness injects.</summary>
internal enum FaultKind
{
    /// <summary>SIGKILL of a member chosen by the seed, then a restart.</summary>
    KillMember,
    /// <summary>SIGKILL of the leader, then a restart.</summary>
    KillLeader,
    /// <summary>SIGKILL of a majority at once, then their restart: the cluster stops, then recovers from disk.</summary>
    KillMajority,
    /// <summary>SIGSTOP of the leader for longer than an election, then SIGCONT: the stale leader wakes up.</summary>
    PauseLeader,
    /// <summary>The leader cut off from everyone else, then healed.</summary>
    IsolateLeader,
    /// <summary>A minority cut off from the majority (chosen by the seed), then healed.</summary>
    SplitMinority,
    /// <summary>Two halves that cannot talk to each other but both talk to one bridge member, then healed.</summary>
    Bridge,
    /// <summary>A new <c>raft serve</c> process on a fresh data dir joins as a learner (member add, then a start with state "existing").</summary>
    AddLearner,
    /// <summary>The learner is promoted to a voter (retried while it is not yet in sync).</summary>
    PromoteLearner,
    /// <summary>A follower voter is removed from the cluster, then its process is stopped.</summary>
    RemoveFollower,
    /// <summary>The leader is removed from the cluster, then its process is stopped: the others elect.</summary>
    RemoveLeader,
    /// <summary>A member restarted with every WAL append slowed (<c>raftBeforeSave=sleep(ms)</c>), later restarted without.</summary>
    SlowDiskBeforeSave,
    /// <summary>A member restarted with a sleep after every WAL append (<c>raftAfterSave=sleep(ms)</c>, a slow fsync), later restarted without.</summary>
    SlowDiskAfterSave,
}

/// <summary>
/// One step of a schedule: a fault, the number that picks its members (the leader is found at run
/// time), how long it lasts, and how long the cluster is left alone after it heals.
/// </summary>
internal sealed record FaultStep(FaultKind Kind, int Pick, TimeSpan Hold, TimeSpan Quiet)
{
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Kind}(pick {Pick}, hold {Hold.TotalMilliseconds:0} ms, quiet {Quiet.TotalMilliseconds:0} ms)");
}

/// <summary>Schedules of faults derived only from a seed, so that the seed replays them.</summary>
internal static class Nemesis
{
    /// <summary>The kills, pauses and partitions (the mixed runs draw from these).</summary>
    public static IReadOnlyList<FaultKind> ProcessAndNetworkFaults { get; } =
    [
        FaultKind.KillMember, FaultKind.KillLeader, FaultKind.KillMajority, FaultKind.PauseLeader,
        FaultKind.IsolateLeader, FaultKind.SplitMinority, FaultKind.Bridge,
    ];

    /// <summary>
    /// Membership changes as a cycle: add a learner, promote it, remove a voter, so that the
    /// cluster keeps its size between cycles. Removals alternate between a follower and the leader,
    /// the first one drawn from the seed.
    /// </summary>
    public static IReadOnlyList<FaultStep> MembershipSchedule(int seed, TimeSpan duration)
    {
        var rng = new Random(seed);
        var steps = new List<FaultStep>();
        var total = TimeSpan.Zero;
        var removeLeader = rng.Next(2) == 0;
        // At least one cycle with each kind of removal.
        while (total < duration || steps.Count < 6)
        {
            var kind = (steps.Count % 3) switch
            {
                0 => FaultKind.AddLearner,
                1 => FaultKind.PromoteLearner,
                _ => (removeLeader = !removeLeader) ? FaultKind.RemoveLeader : FaultKind.RemoveFollower,
            };
            var hold = TimeSpan.FromMilliseconds(rng.Next(500, 2000));
            var quiet = TimeSpan.FromMilliseconds(rng.Next(500, 1500));
            steps.Add(new FaultStep(kind, rng.Next(), hold, quiet));
            total += hold + quiet;
        }
        return steps;
    }

    /// <summary>The sleep of a slow-disk step, in ms (its pick decides it, so the seed replays it).</summary>
    public static int SlowDiskSleepMs(FaultStep step) => 20 + (int)((uint)step.Pick % 281u);

    /// <summary>
    /// Faults drawn from <paramref name="kinds"/> until their total time reaches <paramref name="duration"/>.
    /// Pauses last longer than two election timeouts so that the others elect a new leader meanwhile.
    /// </summary>
    public static IReadOnlyList<FaultStep> Schedule(int seed, IReadOnlyList<FaultKind> kinds, TimeSpan duration, TimeSpan election)
    {
        var rng = new Random(seed);
        var steps = new List<FaultStep>();
        var total = TimeSpan.Zero;
        // Every kind once first (in an order drawn from the seed), then at random.
        var firstRound = kinds.OrderBy(_ => rng.Next()).ToList();
        while (total < duration || steps.Count < kinds.Count)
        {
            var kind = steps.Count < firstRound.Count ? firstRound[steps.Count] : kinds[rng.Next(kinds.Count)];
            var hold = kind == FaultKind.PauseLeader
                ? election * 2.5 + TimeSpan.FromMilliseconds(rng.Next(0, 1500))
                : TimeSpan.FromMilliseconds(rng.Next(1500, 4000));
            var quiet = TimeSpan.FromMilliseconds(rng.Next(1000, 2500));
            steps.Add(new FaultStep(kind, rng.Next(), hold, quiet));
            total += hold + quiet;
        }
        return steps;
    }

    /// <summary><paramref name="items"/> in an order drawn from <paramref name="pick"/>.</summary>
    public static List<T> Shuffle<T>(IEnumerable<T> items, int pick)
    {
        var rng = new Random(pick);
        return items.OrderBy(_ => rng.Next()).ToList();
    }
}
