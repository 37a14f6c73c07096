using Raft.Testing.Linearizability;
using Xunit;
using Xunit.Abstractions;

namespace Raft.Testing.Tests;

/// <summary>The recorder as a host's test would use it, against an in-memory store.</summary>
public sealed class HistoryRecorderTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ConcurrentClientsOfALockedStoreRecordALinearizableHistory()
    {
        var store = new Dictionary<string, string>();
        var gate = new object();
        var recorder = new HistoryRecorder<KvInput, KvOutput>();
        string? seedText = Environment.GetEnvironmentVariable("RAFT_LIN_SEED");
        int seed = seedText is null ? Random.Shared.Next() : int.Parse(seedText, System.Globalization.CultureInfo.InvariantCulture);
        output.WriteLine($"seed {seed} (replay with RAFT_LIN_SEED={seed})");

        async Task Client(int id)
        {
            var rng = new Random(seed + id);
            for (int i = 0; i < 200; i++)
            {
                string key = "k" + rng.Next(3);
                if (rng.Next(2) == 0)
                {
                    var p = recorder.Begin(id, KvInput.Get(key));
                    await Task.Yield();
                    string? v;
                    lock (gate) v = store.GetValueOrDefault(key);
                    p.Complete(KvOutput.Read(v));
                }
                else
                {
                    string value = $"{id}-{i}";
                    var p = recorder.Begin(id, KvInput.Put(key, value));
                    await Task.Yield();
                    lock (gate) store[key] = value;
                    if (rng.Next(10) == 0) p.Failed(); // as if the answer were lost
                    else p.Complete(KvOutput.Done);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 4).Select(c => Task.Run(() => Client(c))));
        Assert.Equal(0, recorder.Open);
        var history = recorder.Operations;
        Assert.Equal(800, history.Count);
        var result = LinearizabilityChecker.Check(KvModel.Instance, history, new CheckOptions { DescribeTime = TimeFormats.TimeSpanTicks });
        output.WriteLine(result.Describe());
        Assert.True(result.IsLinearizable, result.Describe());
    }

    [Fact]
    public void AFailedReadIsDroppedAndAFailedWriteHasAnUnknownOutcome()
    {
        var recorder = new HistoryRecorder<KvInput, KvOutput>();
        recorder.Begin(1, KvInput.Get("x")).Failed();
        recorder.Begin(1, KvInput.Put("x", "a")).Failed();
        var op = Assert.Single(recorder.Operations);
        Assert.Equal(KvOp.Put, op.Input.Op);
        Assert.True(op.OutcomeUnknown);
        Assert.Equal(KvOutputKind.Unknown, op.Output.Kind);
    }

    [Fact]
    public void AnOperationEndsOnce()
    {
        var p = new HistoryRecorder<KvInput, KvOutput>().Begin(1, KvInput.Get("x"));
        p.Complete(KvOutput.Absent);
        Assert.Throws<InvalidOperationException>(() => p.Complete(KvOutput.Absent));
    }
}
