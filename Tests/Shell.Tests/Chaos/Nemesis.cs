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
