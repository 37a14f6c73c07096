using Raft.Testing.Linearizability;
using Xunit;
using Xunit.Abstractions;

namespace Raft.Testing.Tests;

/// <summary>Small histories whose verdict is known by reasoning about them.</summary>
public sealed class HandMadeHistoryTests(ITestOutputHelper output)
{
    private static Operation<KvInput, KvOutput> Op(int client, long call, long ret, KvInput input, KvOutput result) =>
        Operation.Completed(client, input, call, result, ret);

    private static Operation<KvInput, KvOutput> Pending(int client, long call, KvInput input) =>
        Operation.OutcomeUnknown(client, input, call, KvOutput.Unknown);

    private CheckResult<KvInput, KvOutput> Check(params Operation<KvInput, KvOutput>[] history)
    {
        var result = LinearizabilityChecker.Check(KvModel.Instance, history);
        output.WriteLine(result.Describe());
        return result;
    }

    private static int[] Indexes(IEnumerable<ReportedOperation<KvInput, KvOutput>> ops) => ops.Select(o => o.Index).ToArray();

    [Fact]
    public void StaleReadAfterACompletedWriteIsRejected()
    {
        var result = Check(
            Op(1, 0, 10, KvInput.Put("x", "a"), KvOutput.Done),
            Op(2, 20, 30, KvInput.Put("x", "b"), KvOutput.Done),
            Op(3, 40, 50, KvInput.Get("x"), KvOutput.Read("a")));

        Assert.Equal(CheckOutcome.Illegal, result.Outcome);
        var v = Assert.Single(result.Violations);
        Assert.Equal([0, 1], Indexes(v.Prefix));
        Assert.Equal("\"b\"", v.StateAfterPrefix);
        Assert.Equal(2, v.Blocking.Index);
        Assert.Equal([2], Indexes(v.Window));
    }

    [Fact]
    public void TheSameReadOverlappingTheSecondWriteIsAccepted()
    {
        // Only the timing differs from the stale read: the read may take effect before put b.
        var result = Check(
            Op(1, 0, 10, KvInput.Put("x", "a"), KvOutput.Done),
            Op(2, 20, 30, KvInput.Put("x", "b"), KvOutput.Done),
            Op(3, 25, 50, KvInput.Get("x"), KvOutput.Read("a")));
        Assert.Equal(CheckOutcome.Ok, result.Outcome);
    }

    [Fact]
    public void LostWriteIsRejected()
    {
        // put 2 was acknowledged, yet two later reads by another client still see 1.
        var result = Check(
            Op(1, 0, 5, KvInput.Put("x", "1"), KvOutput.Done),
            Op(2, 10, 20, KvInput.Put("x", "2"), KvOutput.Done),
            Op(3, 30, 40, KvInput.Get("x"), KvOutput.Read("1")),
            Op(3, 50, 60, KvInput.Get("x"), KvOutput.Read("1")));
        Assert.Equal(CheckOutcome.Illegal, result.Outcome);
        Assert.Equal(2, Assert.Single(result.Violations).Blocking.Index);
    }

    [Fact]
    public void AcknowledgedFirstWriteThenReadOfAbsentIsRejected()
    {
        var result = Check(
            Op(1, 0, 10, KvInput.Put("x", "a"), KvOutput.Done),
            Op(2, 20, 30, KvInput.Get("x"), KvOutput.Absent));
        Assert.Equal(CheckOutcome.Illegal, result.Outcome);
    }

    [Fact]
    public void ReadOfAKeyNeverWrittenIsAbsent()
    {
        Assert.Equal(CheckOutcome.Ok, Check(Op(1, 0, 10, KvInput.Get("x"), KvOutput.Absent)).Outcome);
        Assert.Equal(CheckOutcome.Illegal, Check(Op(1, 0, 10, KvInput.Get("x"), KvOutput.Read(""))).Outcome);
    }

    [Theory]
    [InlineData("a", CheckOutcome.Ok)]
    [InlineData("b", CheckOutcome.Ok)]
    [InlineData("c", CheckOutcome.Illegal)]
    public void ConcurrentWritesAreAcceptedInEitherOrder(string seen, CheckOutcome expected)
    {
        var result = Check(
            Op(1, 0, 100, KvInput.Put("x", "a"), KvOutput.Done),
            Op(2, 10, 90, KvInput.Put("x", "b"), KvOutput.Done),
            Op(3, 200, 210, KvInput.Get("x"), KvOutput.Read(seen)),
            Op(3, 220, 230, KvInput.Get("x"), KvOutput.Read(seen)));
        Assert.Equal(expected, result.Outcome);
    }

    [Fact]
    public void AReadConcurrentWithAWriteMaySeeEitherValueButNotGoBack()
    {
        var put = Op(1, 10, 100, KvInput.Put("x", "new"), KvOutput.Done);
        var init = Op(1, 0, 5, KvInput.Put("x", "old"), KvOutput.Done);
        Assert.Equal(CheckOutcome.Ok, Check(init, put, Op(2, 20, 30, KvInput.Get("x"), KvOutput.Read("old"))).Outcome);
        Assert.Equal(CheckOutcome.Ok, Check(init, put, Op(2, 20, 30, KvInput.Get("x"), KvOutput.Read("new"))).Outcome);
        // Both reads are concurrent with the put, but once one saw "new" a later one cannot see "old".
        Assert.Equal(CheckOutcome.Illegal, Check(init, put,
            Op(2, 20, 30, KvInput.Get("x"), KvOutput.Read("new")),
            Op(3, 40, 50, KvInput.Get("x"), KvOutput.Read("old"))).Outcome);
    }

    [Fact]
    public void OperationsTouchingAtOneInstantCountAsConcurrent()
    {
        Assert.Equal(CheckOutcome.Ok, Check(
            Op(1, 0, 10, KvInput.Put("x", "a"), KvOutput.Done),
            Op(2, 10, 20, KvInput.Get("x"), KvOutput.Absent)).Outcome);
        Assert.Equal(CheckOutcome.Illegal, Check(
            Op(1, 0, 10, KvInput.Put("x", "a"), KvOutput.Done),
            Op(2, 11, 20, KvInput.Get("x"), KvOutput.Absent)).Outcome);
    }

    [Fact]
    public void TimedOutWriteThatTookEffectLaterIsAccepted()
    {
        var result = Check(
            Op(1, 0, 10, KvInput.Put("x", "a"), KvOutput.Done),
            Pending(2, 20, KvInput.Put("x", "b")),
            Op(3, 30, 40, KvInput.Get("x"), KvOutput.Read("a")),
            Op(3, 500, 510, KvInput.Get("x"), KvOutput.Read("b")),
            Op(1, 600, 610, KvInput.Get("x"), KvOutput.Read("b")));
        Assert.Equal(CheckOutcome.Ok, result.Outcome);
    }

    [Fact]
    public void TimedOutWriteThatNeverTookEffectIsAccepted()
    {
        var result = Check(
            Op(1, 0, 10, KvInput.Put("x", "a"), KvOutput.Done),
            Pending(2, 20, KvInput.Put("x", "b")),
            Pending(2, 25, KvInput.Delete("x")),
            Op(3, 30, 40, KvInput.Get("x"), KvOutput.Read("a")),
            Op(3, 500, 510, KvInput.Get("x"), KvOutput.Read("a")));
        Assert.Equal(CheckOutcome.Ok, result.Outcome);
    }

    [Fact]
    public void TimedOutWriteTakesEffectOnceAndNotBeforeItsCall()
    {
        // Seen, then gone again with nothing else written: it cannot take effect twice.
        Assert.Equal(CheckOutcome.Illegal, Check(
            Op(1, 0, 10, KvInput.Put("x", "a"), KvOutput.Done),
            Pending(2, 20, KvInput.Put("x", "b")),
            Op(3, 30, 40, KvInput.Get("x"), KvOutput.Read("b")),
            Op(3, 50, 60, KvInput.Get("x"), KvOutput.Read("a"))).Outcome);
        // Seen before it was sent.
        Assert.Equal(CheckOutcome.Illegal, Check(
            Op(3, 0, 5, KvInput.Get("x"), KvOutput.Read("b")),
            Pending(2, 20, KvInput.Put("x", "b"))).Outcome);
    }

    [Fact]
    public void CompareAndSetSucceedsIffTheValueIsTheExpectedOne()
    {
        Assert.Equal(CheckOutcome.Ok, Check(
            Op(1, 0, 10, KvInput.CompareAndSet("x", null, "1"), KvOutput.Swapped(true)),
            Op(2, 20, 30, KvInput.CompareAndSet("x", "1", "2"), KvOutput.Swapped(true)),
            Op(3, 40, 50, KvInput.CompareAndSet("x", "1", "3"), KvOutput.Swapped(false)),
            Op(1, 60, 70, KvInput.Get("x"), KvOutput.Read("2"))).Outcome);

        // Two concurrent swaps from the same expected value cannot both succeed.
        var both = Check(
            Op(1, 0, 10, KvInput.Put("x", "1"), KvOutput.Done),
            Op(2, 20, 40, KvInput.CompareAndSet("x", "1", "2"), KvOutput.Swapped(true)),
            Op(3, 25, 45, KvInput.CompareAndSet("x", "1", "3"), KvOutput.Swapped(true)));
        Assert.Equal(CheckOutcome.Illegal, both.Outcome);
        var v = Assert.Single(both.Violations);
        Assert.Equal([0, 1], Indexes(v.Prefix));
        Assert.Equal([2], Indexes(v.Window));

        // A failed swap must have seen another value.
        Assert.Equal(CheckOutcome.Illegal, Check(
            Op(1, 0, 10, KvInput.Put("x", "1"), KvOutput.Done),
            Op(2, 20, 30, KvInput.CompareAndSet("x", "1", "2"), KvOutput.Swapped(false))).Outcome);

        // A swap with an unknown outcome may or may not have happened.
        foreach (var seen in new[] { "1", "2" })
            Assert.Equal(CheckOutcome.Ok, Check(
                Op(1, 0, 10, KvInput.Put("x", "1"), KvOutput.Done),
                Pending(2, 20, KvInput.CompareAndSet("x", "1", "2")),
                Op(3, 100, 110, KvInput.Get("x"), KvOutput.Read(seen))).Outcome);
    }

    [Fact]
    public void DeleteMakesTheKeyAbsent()
    {
        var put = Op(1, 0, 10, KvInput.Put("x", "a"), KvOutput.Done);
        var delete = Op(1, 20, 30, KvInput.Delete("x"), KvOutput.Done);
        Assert.Equal(CheckOutcome.Ok, Check(put, delete, Op(2, 40, 50, KvInput.Get("x"), KvOutput.Absent)).Outcome);
        Assert.Equal(CheckOutcome.Illegal, Check(put, delete, Op(2, 40, 50, KvInput.Get("x"), KvOutput.Read("a"))).Outcome);
    }

    [Fact]
    public void TheViolationMessageNamesTheOperationsThatCannotBeOrdered()
    {
        var result = LinearizabilityChecker.Check(KvModel.Instance, new[]
        {
            Op(1, 0, 10, KvInput.Put("x", "x1"), KvOutput.Done),         // #0
            Op(1, 20, 30, KvInput.Put("y", "old"), KvOutput.Done),       // #1
            Op(2, 40, 50, KvInput.Put("y", "new"), KvOutput.Done),       // #2
            Op(3, 45, 55, KvInput.Get("x"), KvOutput.Read("x1")),        // #3
            Op(3, 60, 70, KvInput.Get("y"), KvOutput.Read("old")),       // #4: stale
            Op(4, 65, 90, KvInput.Put("y", "later"), KvOutput.Done),     // #5: concurrent with #4
            Op(2, 100, 110, KvInput.Get("y"), KvOutput.Read("later")),   // #6
        });
        string text = result.Describe();
        output.WriteLine(text);

        Assert.Equal(CheckOutcome.Illegal, result.Outcome);
        Assert.Equal(CheckOutcome.Ok, result.Partitions.Single(p => p.Key == "x").Outcome);
        var v = Assert.Single(result.Violations);
        Assert.Equal("y", v.PartitionKey);
        // The longest order found takes the concurrent put before the stale read, which then fits nowhere.
        Assert.Equal([1, 2, 5], Indexes(v.Prefix));
        Assert.Equal(4, v.Blocking.Index);
        Assert.Equal([4], Indexes(v.Window));
        Assert.Contains("Partition \"y\" is not linearizable", text);
        Assert.Contains("#4  client 3  [60 .. 70]  get(\"y\") -> \"old\"", text);
        Assert.Contains("#5  client 4  [65 .. 90]  put(\"y\", \"later\") -> ok", text);
        Assert.Contains("State after it: \"later\".", text);
        Assert.DoesNotContain("#3 ", text);
        Assert.DoesNotContain("#6 ", text);
    }

    [Fact]
    public void EveryOperationThatCouldGoNextIsInTheWindow()
    {
        var result = Check(
            Op(1, 0, 10, KvInput.Put("x", "a"), KvOutput.Done),
            Op(2, 20, 40, KvInput.Get("x"), KvOutput.Read("b")),
            Op(3, 25, 45, KvInput.Get("x"), KvOutput.Read("c")),
            Op(1, 30, 50, KvInput.Get("x"), KvOutput.Read("a")),
            Op(4, 41, 60, KvInput.Get("x"), KvOutput.Read("a")));
        var v = Assert.Single(result.Violations);
        // #3 fits and is taken; #1 returns first and fits nowhere; #4 was called after #1 returned.
        Assert.Equal([0, 3], Indexes(v.Prefix));
        Assert.Equal(1, v.Blocking.Index);
        Assert.Equal([1, 2], Indexes(v.Window));
    }

    [Fact]
    public void AnOperationReturningBeforeItsCallIsRefused()
    {
        Assert.Throws<ArgumentException>(() => LinearizabilityChecker.Check(KvModel.Instance,
            [Op(1, 10, 5, KvInput.Get("x"), KvOutput.Absent)]));
    }

    // n concurrent puts of distinct values, then a read of a value nobody wrote: rejecting it takes
    // the search through every order of the puts that memoisation cannot merge.
    private static Operation<KvInput, KvOutput>[] Hard(int n) =>
        Enumerable.Range(0, n).Select(i => Op(i, i, 1000, KvInput.Put("x", $"v{i}"), KvOutput.Done))
            .Append(Op(n, 2000, 2010, KvInput.Get("x"), KvOutput.Read("nobody")))
            .ToArray();

    [Fact]
    public void AStepBudgetEndsInUnknownInsteadOfSearchingOn()
    {
        var limited = LinearizabilityChecker.Check(KvModel.Instance, Hard(16), new CheckOptions { MaxStepsPerPartition = 5_000 });
        output.WriteLine(limited.Describe());
        Assert.Equal(CheckOutcome.Unknown, limited.Outcome);
        var p = Assert.Single(limited.Partitions);
        Assert.Equal(5_000, p.Steps);
        Assert.Contains("5000 steps", p.UnknownReason);

        // With room enough the same search decides.
        var decided = LinearizabilityChecker.Check(KvModel.Instance, Hard(6), new CheckOptions { MaxStepsPerPartition = 5_000 });
        Assert.Equal(CheckOutcome.Illegal, decided.Outcome);
    }

    [Fact]
    public void ATimeBudgetEndsInUnknownInsteadOfSearchingOn()
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var result = LinearizabilityChecker.Check(KvModel.Instance, Hard(40), new CheckOptions { Timeout = TimeSpan.FromMilliseconds(200) });
        output.WriteLine($"{started.ElapsedMilliseconds} ms: {result.Describe()}");
        Assert.Equal(CheckOutcome.Unknown, result.Outcome);
        Assert.Contains("time", Assert.Single(result.Partitions).UnknownReason);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"took {started.Elapsed}");
    }

    [Fact]
    public void CancellationThrows()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        Assert.ThrowsAny<OperationCanceledException>(() =>
            LinearizabilityChecker.Check(KvModel.Instance, Hard(40), cancellationToken: cts.Token));
    }
}
