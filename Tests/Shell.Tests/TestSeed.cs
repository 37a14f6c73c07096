using FsCheck;
using Microsoft.FSharp.Core;

namespace Raft.Shell.Tests;

/// <summary>
/// The seed of a randomized test: RAFT_TEST_SEED when set, else a fresh one. Tests print it and put
/// it in their failure messages, so that any failure replays with the same choices.
/// </summary>
internal static class TestSeed
{
    /// <summary>The environment variable that replays a run.</summary>
    public const string Variable = "RAFT_TEST_SEED";

    /// <summary>This run's seed (one per test process, so every randomized test of a run shares it).</summary>
    public static readonly int Value =
        int.TryParse(Environment.GetEnvironmentVariable(Variable), out var s) ? s : Random.Shared.Next();

    /// <summary>How a message names the seed: "seed 123 (RAFT_TEST_SEED=123 replays it)".</summary>
    public static string Describe => $"seed {Value} ({Variable}={Value} replays it)";

    /// <summary>A generator seeded with this run's seed, announced on <paramref name="log"/>.</summary>
    public static Random NewRandom(Action<string> log)
    {
        log(Describe);
        return new Random(Value);
    }

    /// <summary>FsCheck's configuration for a property run from this run's seed.</summary>
    public static Config PropertyConfig(int maxTest) =>
        Config.QuickThrowOnFailure.WithMaxTest(maxTest)
            .WithReplay(new Replay(new Rnd((ulong)(uint)Value), FSharpOption<int>.None));
}
