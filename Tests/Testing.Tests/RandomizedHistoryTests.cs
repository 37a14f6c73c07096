using System.Globalization;
using Raft.Testing.Linearizability;
using Xunit;
using Xunit.Abstractions;

namespace Raft.Testing.Tests;

/// <summary>
/// Histories of a simulated atomic register pass; the same histories with one read corrupted fail.
/// The seed is printed; set RAFT_LIN_SEED to replay one.
/// </summary>
public sealed class RandomizedHistoryTests(ITestOutputHelper output)
{
    private const int Histories = 60;

    private int Seed()
    {
        string? env = Environment.GetEnvironmentVariable("RAFT_LIN_SEED");
        int seed = env is null ? Random.Shared.Next() : int.Parse(env, CultureInfo.InvariantCulture);
        output.WriteLine($"seed {seed} (replay with RAFT_LIN_SEED={seed})");
        return seed;
    }

    private static SimulationShape ShapeFor(Random rng) =>
        new(Clients: rng.Next(2, 8), Keys: rng.Next(1, 4), Operations: rng.Next(20, 400));

    [Fact]
    public void HistoriesOfAnAtomicRegisterAreLinearizable()
    {
        int seed = Seed();
        var rng = new Random(seed);
        int operations = 0, unknown = 0;
        for (int h = 0; h < Histories; h++)
        {
            var history = RegisterSimulation.Generate(rng, ShapeFor(rng));
            operations += history.Count;
            unknown += history.Count(o => o.OutcomeUnknown);
            var result = LinearizabilityChecker.Check(KvModel.Instance, history);
            Assert.True(result.IsLinearizable, $"seed {seed}, history {h}: {result.Describe()}");
        }
        output.WriteLine($"{Histories} histories, {operations} operations ({unknown} with unknown outcome) accepted");
    }

    /// <summary>A read changed to a value no operation wrote: the broken variant the property must catch.</summary>
    [Fact]
    public void AReadOfAValueNeverWrittenIsCaught()
    {
        int seed = Seed();
        var rng = new Random(seed);
        int caught = 0;
        for (int h = 0; h < Histories; h++)
        {
            var history = RegisterSimulation.Generate(rng, ShapeFor(rng));
            var reads = Enumerable.Range(0, history.Count).Where(i => IsCompletedRead(history[i])).ToList();
            if (reads.Count == 0) continue;
            int victim = reads[rng.Next(reads.Count)];
            history[victim] = history[victim] with { Output = KvOutput.Read("never-written") };

            var result = LinearizabilityChecker.Check(KvModel.Instance, history);
            Assert.True(result.Outcome == CheckOutcome.Illegal, $"seed {seed}, history {h}, read #{victim}: {result.Describe()}");
            Assert.Equal(history[victim].Input.Key, Assert.Single(result.Violations).PartitionKey);
            if (caught++ == 0) output.WriteLine(result.Describe());
        }
        output.WriteLine($"{caught} corrupted histories rejected");
        Assert.True(caught > Histories / 2, $"only {caught} histories had a read to corrupt");
    }

    /// <summary>
    /// A read changed to a value that was overwritten before the read began: write W1 of u returned
    /// before write W2 of the same key was called, and W2 returned before the read was called. Values
    /// are unique, so once W2 took effect the key never holds u again.
    /// </summary>
    [Fact]
    public void AStaleReadIsCaught()
    {
        int seed = Seed();
        var rng = new Random(seed);
        int caught = 0;
        for (int h = 0; h < Histories; h++)
        {
            var history = RegisterSimulation.Generate(rng, ShapeFor(rng));
            var candidates = new List<(int Read, string Stale)>();
            for (int g = 0; g < history.Count; g++)
            {
                var read = history[g];
                if (!IsCompletedRead(read)) continue;
                var writes = history.Where(w => w.Input.Key == read.Input.Key && DefinitelyWrote(w)).ToList();
                // The overwriting write W2 called last among those done before the read leaves the most W1s.
                var w2 = writes.Where(w => w.Return < read.Call).MaxBy(w => w.Call);
                if (w2 is null) continue;
                foreach (var w1 in writes.Where(w => w.Input.Value is not null && w.Return < w2.Call && w.Input.Value != read.Output.Value))
                    candidates.Add((g, w1.Input.Value!));
            }
            if (candidates.Count == 0) continue;
            var (victim, stale) = candidates[rng.Next(candidates.Count)];
            history[victim] = history[victim] with { Output = KvOutput.Read(stale) };

            var result = LinearizabilityChecker.Check(KvModel.Instance, history);
            Assert.True(result.Outcome == CheckOutcome.Illegal, $"seed {seed}, history {h}, read #{victim} -> {stale}: {result.Describe()}");
            if (caught++ == 0) output.WriteLine(result.Describe());
        }
        output.WriteLine($"{caught} histories with a stale read rejected");
        Assert.True(caught > Histories / 3, $"only {caught} histories had a stale read to make");
    }

    [Fact]
    public void ResultsDoNotDependOnParallelism()
    {
        int seed = Seed();
        var rng = new Random(seed);
        var history = RegisterSimulation.Generate(rng, new SimulationShape(Clients: 6, Keys: 12, Operations: 3000));
        // Break three keys so there are several reports to order.
        foreach (var key in new[] { "k1", "k5", "k9" })
        {
            int i = history.FindIndex(o => o.Input.Key == key && IsCompletedRead(o));
            if (i >= 0) history[i] = history[i] with { Output = KvOutput.Read("never-written") };
        }
        string one = LinearizabilityChecker.Check(KvModel.Instance, history, new CheckOptions { MaxDegreeOfParallelism = 1 }).Describe();
        string many = LinearizabilityChecker.Check(KvModel.Instance, history, new CheckOptions { MaxDegreeOfParallelism = 4 }).Describe();
        output.WriteLine(one);
        Assert.Contains("NOT linearizable", one);
        Assert.Equal(one, many);
    }

    private static bool IsCompletedRead(Operation<KvInput, KvOutput> o) => o.Input.IsRead && !o.OutcomeUnknown;

    private static bool DefinitelyWrote(Operation<KvInput, KvOutput> o) => !o.OutcomeUnknown && o.Input.Op switch
    {
        KvOp.Put or KvOp.Delete => true,
        KvOp.CompareAndSet => o.Output.Succeeded,
        _ => false,
    };
}
