using Raft.Testing.Linearizability;
using Xunit;
using Xunit.Abstractions;

namespace Raft.Testing.Tests;

/// <summary>A model written the way a host would write its own: a counter with add and read, unpartitioned.</summary>
public sealed class CustomModelTests(ITestOutputHelper output)
{
    /// <summary>add(Amount) when Amount is set, read otherwise.</summary>
    public readonly record struct CounterInput(long? Amount);

    /// <summary>What a read saw; null for an add, or for any operation whose outcome is unknown.</summary>
    public readonly record struct CounterOutput(long? Seen, bool Unknown);

    private sealed class CounterModel : IModel<long, CounterInput, CounterOutput>
    {
        public long Init() => 0;

        public (bool Ok, long Next) Step(long state, CounterInput input, CounterOutput result) =>
            input.Amount is { } add ? (true, state + add) : (result.Unknown || result.Seen == state, state);

        public IEqualityComparer<long> StateComparer => EqualityComparer<long>.Default;

        public string PartitionKey(CounterInput input) => "counter";

        public string Describe(CounterInput input, CounterOutput result) =>
            (input.Amount is { } a ? $"add({a})" : "read()") + " -> " + (result.Unknown ? "unknown" : result.Seen?.ToString() ?? "ok");

        public string DescribeState(long state) => state.ToString();
    }

    private static Operation<CounterInput, CounterOutput> Add(int client, long call, long ret, long amount) =>
        Operation.Completed(client, new CounterInput(amount), call, new CounterOutput(null, false), ret);

    private static Operation<CounterInput, CounterOutput> Read(int client, long call, long ret, long seen) =>
        Operation.Completed(client, new CounterInput(null), call, new CounterOutput(seen, false), ret);

    [Theory]
    [InlineData(0, CheckOutcome.Ok)]   // the read before both adds
    [InlineData(1, CheckOutcome.Ok)]
    [InlineData(10, CheckOutcome.Ok)]
    [InlineData(11, CheckOutcome.Ok)]
    [InlineData(5, CheckOutcome.Illegal)]
    public void AReadConcurrentWithTwoAddsSeesASumOfSomeOfThem(long seen, CheckOutcome expected)
    {
        var result = LinearizabilityChecker.Check(new CounterModel(), new[]
        {
            Add(1, 0, 100, 1),
            Add(2, 0, 100, 10),
            Read(3, 0, 100, seen),
            Read(3, 200, 210, 11),
        });
        output.WriteLine(result.Describe());
        Assert.Equal(expected, result.Outcome);
    }

    [Fact]
    public void AReadMissingACompletedAddIsRejectedAndReportedWithTheModelsWords()
    {
        var result = LinearizabilityChecker.Check(new CounterModel(), new[]
        {
            Add(1, 0, 10, 1),
            Add(2, 20, 30, 10),
            Read(3, 40, 50, 10),
        });
        output.WriteLine(result.Describe());
        var v = Assert.Single(result.Violations);
        Assert.Equal("counter", v.PartitionKey);
        Assert.Equal("11", v.StateAfterPrefix);
        Assert.Equal(2, Assert.Single(v.Window).Index);
        Assert.Contains("read() -> 10", v.Text);
    }

    [Fact]
    public void AnAddWithAnUnknownOutcomeMayCountOrNot()
    {
        foreach (long seen in new long[] { 1, 11 })
        {
            var result = LinearizabilityChecker.Check(new CounterModel(), new[]
            {
                Add(1, 0, 10, 1),
                Operation.OutcomeUnknown(2, new CounterInput(10), 20, new CounterOutput(null, true)),
                Read(3, 40, 50, seen),
            });
            Assert.Equal(CheckOutcome.Ok, result.Outcome);
        }
    }
}
