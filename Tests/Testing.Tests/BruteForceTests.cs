using System.Globalization;
using Raft.Testing.Linearizability;
using Xunit;
using Xunit.Abstractions;

namespace Raft.Testing.Tests;

/// <summary>
/// The checker against the definition, on tiny random histories with random answers: a history is
/// linearizable iff some order of all its operations respects real time (an operation that returned
/// before another was called comes first) and the model accepts every output in that order.
/// Operations with an unknown outcome never return, and the model accepts them anywhere, so placing
/// them last stands for "never".
/// </summary>
public sealed class BruteForceTests(ITestOutputHelper output)
{
    private const int Histories = 20_000;

    private int Seed()
    {
        string? env = Environment.GetEnvironmentVariable("RAFT_LIN_SEED");
        int seed = env is null ? Random.Shared.Next() : int.Parse(env, CultureInfo.InvariantCulture);
        output.WriteLine($"seed {seed} (replay with RAFT_LIN_SEED={seed})");
        return seed;
    }

    [Fact]
    public void TheCheckerAgreesWithTryingEveryOrder()
    {
        int seed = Seed();
        var rng = new Random(seed);
        int ok = 0, illegal = 0;
        for (int h = 0; h < Histories; h++)
        {
            var history = RandomHistory(rng, rng.Next(1, 9));
            bool expected = SomeOrderWorks(history);
            var result = LinearizabilityChecker.Check(KvModel.Instance, history);
            Assert.True(expected == result.IsLinearizable,
                $"seed {seed}, history {h}: every order says {expected}, the checker {result.Describe()}\n" + Show(history));
            if (expected) ok++; else illegal++;
        }
        output.WriteLine($"{ok} linearizable and {illegal} not, all agreed");
        // Both verdicts must be common, or the comparison says little.
        Assert.True(ok > Histories / 10 && illegal > Histories / 10, $"{ok} linearizable, {illegal} not");
    }

    /// <summary>
    /// The broken variant: a checker that forgets real time (here, the real checker given the history
    /// with every return moved to never, which checks sequential consistency instead). The same
    /// comparison must tell it apart.
    /// </summary>
    [Fact]
    public void TheComparisonCatchesACheckerThatIgnoresRealTime()
    {
        int seed = Seed();
        var rng = new Random(seed);
        int disagreements = 0;
        string? first = null;
        for (int h = 0; h < Histories; h++)
        {
            var history = RandomHistory(rng, rng.Next(1, 9));
            var timeless = history.Select(o => o with { Return = Operation.Never }).ToList();
            if (SomeOrderWorks(history) != LinearizabilityChecker.Check(KvModel.Instance, timeless).IsLinearizable)
            {
                disagreements++;
                first ??= Show(history);
            }
        }
        output.WriteLine($"{disagreements} of {Histories} histories told apart; the first:\n{first}");
        Assert.True(disagreements > 0, "a checker that ignores real time went unnoticed");
    }

    private static string Show(List<Operation<KvInput, KvOutput>> history) =>
        string.Join("\n", history.Select((o, i) =>
            $"#{i} [{o.Call}, {(o.OutcomeUnknown ? "never" : o.Return)}] {KvModel.Instance.Describe(o.Input, o.Output)}"));

    private static readonly string?[] Values = [null, "a", "b", "c"];

    private static List<Operation<KvInput, KvOutput>> RandomHistory(Random rng, int n)
    {
        var ops = new List<Operation<KvInput, KvOutput>>(n);
        for (int i = 0; i < n; i++)
        {
            long call = rng.Next(0, 20);
            long ret = call + rng.Next(0, 10);
            string value = Values[rng.Next(1, Values.Length)]!;
            (KvInput input, KvOutput result) = rng.Next(5) switch
            {
                0 or 1 => (KvInput.Get("x"), KvOutput.Read(Values[rng.Next(Values.Length)])),
                2 => (KvInput.Put("x", value), KvOutput.Done),
                3 => (KvInput.Delete("x"), KvOutput.Done),
                _ => (KvInput.CompareAndSet("x", Values[rng.Next(Values.Length)], value), KvOutput.Swapped(rng.Next(2) == 0)),
            };
            ops.Add(!input.IsRead && rng.Next(6) == 0
                ? Operation.OutcomeUnknown(i, input, call, KvOutput.Unknown)
                : Operation.Completed(i, input, call, result, ret));
        }
        return ops;
    }

    private static bool SomeOrderWorks(List<Operation<KvInput, KvOutput>> ops)
    {
        var used = new bool[ops.Count];
        bool Extend(int depth, string? state)
        {
            if (depth == ops.Count) return true;
            for (int i = 0; i < ops.Count; i++)
            {
                if (used[i]) continue;
                // i can go next only if no operation still unplaced returned before i was called.
                bool blocked = false;
                for (int j = 0; j < ops.Count && !blocked; j++)
                    blocked = !used[j] && j != i && ops[j].Return < ops[i].Call;
                if (blocked) continue;
                var (fits, next) = KvModel.Instance.Step(state, ops[i].Input, ops[i].Output);
                if (!fits) continue;
                used[i] = true;
                if (Extend(depth + 1, next)) return true;
                used[i] = false;
            }
            return false;
        }
        return Extend(0, null);
    }
}
