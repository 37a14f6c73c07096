using Raft.Testing.Linearizability;

namespace Raft.Testing.Tests;

/// <summary>How <see cref="RegisterSimulation.Generate"/> shapes a history.</summary>
public sealed record SimulationShape(
    int Clients, int Keys, int Operations,
    double UnknownWriteRate = 0.02, double FailedReadRate = 0.02);

/// <summary>
/// Histories of a real (atomic) register per key under random concurrent clients, so linearizable
/// by construction: every operation takes effect at one instant inside its call and return, and
/// outputs are computed by applying the operations in the order of those instants. A write whose
/// outcome is unknown takes effect at a random later instant, even after its client gave up, or
/// never. A failed read is left out, as a recorder would.
/// </summary>
public static class RegisterSimulation
{
    private sealed class Draft
    {
        public int Client;
        public KvOp Op;
        public string Key = "";
        public string? Value;
        public string? Expected;
        public long Call;
        public long Return;
        public long Effect; // long.MaxValue: never
        public bool Unknown;
        public bool Dropped;
        public KvOutput Output;
    }

    public static List<Operation<KvInput, KvOutput>> Generate(Random rng, SimulationShape shape)
    {
        var drafts = new List<Draft>(shape.Operations);
        var clock = new long[shape.Clients];
        for (int c = 0; c < shape.Clients; c++) clock[c] = rng.Next(0, 20);
        int written = 0;
        for (int i = 0; i < shape.Operations; i++)
        {
            int c = i % shape.Clients;
            var d = new Draft { Client = c, Key = "k" + rng.Next(shape.Keys), Call = clock[c] };
            long duration = 1 + rng.Next(40);
            d.Return = d.Call + duration;
            int roll = rng.Next(100);
            d.Op = roll < 50 ? KvOp.Get : roll < 80 ? KvOp.Put : roll < 85 ? KvOp.Delete : KvOp.CompareAndSet;
            if (d.Op is KvOp.Put or KvOp.CompareAndSet) d.Value = $"v{written++}";
            // Ties between instants only happen between concurrent operations, where either order is right.
            d.Effect = d.Call + rng.NextInt64(duration + 1);
            if (d.Op != KvOp.Get && rng.NextDouble() < shape.UnknownWriteRate)
            {
                d.Unknown = true;
                d.Effect = rng.Next(2) == 0 ? long.MaxValue : d.Call + rng.NextInt64(5 * duration + 1);
            }
            else if (d.Op == KvOp.Get && rng.NextDouble() < shape.FailedReadRate)
            {
                d.Dropped = true;
            }
            clock[c] = d.Return + rng.Next(0, 10);
            drafts.Add(d);
        }

        var current = new Dictionary<string, string?>(StringComparer.Ordinal);
        var seen = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var d in drafts.Where(d => d.Effect != long.MaxValue).OrderBy(d => d.Effect).ThenBy(d => d.Call))
        {
            string? now = current.GetValueOrDefault(d.Key);
            switch (d.Op)
            {
                case KvOp.Get:
                    d.Output = KvOutput.Read(now);
                    break;
                case KvOp.Put:
                    current[d.Key] = d.Value;
                    d.Output = KvOutput.Done;
                    break;
                case KvOp.Delete:
                    current[d.Key] = null;
                    d.Output = KvOutput.Done;
                    break;
                case KvOp.CompareAndSet:
                    // The expected value is chosen here so that about half the swaps succeed.
                    var old = seen.GetValueOrDefault(d.Key);
                    d.Expected = rng.Next(2) == 0 || old is null ? now : old[rng.Next(old.Count)];
                    bool swap = string.Equals(d.Expected, now, StringComparison.Ordinal);
                    if (swap) current[d.Key] = d.Value;
                    d.Output = KvOutput.Swapped(swap);
                    break;
            }
            if (d.Op is KvOp.Put or KvOp.CompareAndSet && current.GetValueOrDefault(d.Key) is { } v)
            {
                if (!seen.TryGetValue(d.Key, out var list)) seen[d.Key] = list = [];
                list.Add(v);
            }
        }

        var history = new List<Operation<KvInput, KvOutput>>(drafts.Count);
        foreach (var d in drafts)
        {
            if (d.Dropped) continue;
            var input = new KvInput(d.Op, d.Key, d.Value, d.Expected);
            history.Add(d.Unknown
                ? Operation.OutcomeUnknown(d.Client, input, d.Call, KvOutput.Unknown)
                : Operation.Completed(d.Client, input, d.Call, d.Output, d.Return));
        }
        return history;
    }
}
