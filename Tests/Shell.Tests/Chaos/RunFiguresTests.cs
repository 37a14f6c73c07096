namespace Raft.Shell.Tests.Chaos;

/// <summary>The pure parts of the chaos harness's end checks and figures.</summary>
public class RunFiguresTests
{
    private static MemberData Data(string name, long revision, params (string Key, string Value)[] kvs) =>
        new(name, revision, kvs.ToDictionary(kv => kv.Key, kv => kv.Value));

    [Fact]
    public void MembersWithTheSameDataAgree() =>
        Assert.Null(ChaosRun.Difference([Data("m1", 7, ("a", "1"), ("b", "2")), Data("m2", 7, ("b", "2"), ("a", "1")), Data("m3", 7, ("a", "1"), ("b", "2"))]));

    [Fact]
    public void AMemberMissingAKeyAnotherValueOrAnotherRevisionIsNamed()
    {
        Assert.Equal("at revision 7 m1 has b=2, m3 has b=(absent)",
            ChaosRun.Difference([Data("m1", 7, ("a", "1"), ("b", "2")), Data("m2", 7, ("a", "1"), ("b", "2")), Data("m3", 7, ("a", "1"))]));
        Assert.Equal("at revision 7 m1 has a=1, m2 has a=3",
            ChaosRun.Difference([Data("m1", 7, ("a", "1")), Data("m2", 7, ("a", "3"))]));
        Assert.Equal("m1 is at revision 7, m2 at 8",
            ChaosRun.Difference([Data("m1", 7, ("a", "1")), Data("m2", 8, ("a", "1"))]));
    }

    [Fact]
    public void PercentilesAreNearestRank()
    {
        double[] samples = [.. Enumerable.Range(1, 200).Select(i => (double)i)];
        Assert.Equal(198, RunFigures.Percentile(samples, 0.99));
        Assert.Equal(100, RunFigures.Percentile(samples, 0.5));
        Assert.Equal(5, RunFigures.Percentile([1, 2, 5], 0.99));
        Assert.Equal(1, RunFigures.Percentile([1, 2, 5], 0));
    }

    [Fact]
    public void RunsCombineBySumMaximumAndEverySample()
    {
        var a = new ChaosFigures(10, 1, 8, 0, 0,
            new Dictionary<FaultKind, int> { [FaultKind.KillLeader] = 2 },
            new Dictionary<FaultKind, double> { [FaultKind.KillLeader] = 900 },
            new Dictionary<FaultKind, double[]> { [FaultKind.KillLeader] = [1000, 1200] });
        var b = new ChaosFigures(5, 0, 4, 0, 0,
            new Dictionary<FaultKind, int> { [FaultKind.KillLeader] = 1, [FaultKind.RemoveLeader] = 1 },
            new Dictionary<FaultKind, double> { [FaultKind.KillLeader] = 1500, [FaultKind.RemoveLeader] = 1300 },
            new Dictionary<FaultKind, double[]> { [FaultKind.KillLeader] = [1100], [FaultKind.RemoveLeader] = [1250] });
        var all = RunFigures.Combine([a, b]);
        Assert.Equal((15, 1, 12), (all.OperationsChecked, all.UnknownOutcomes, all.AcknowledgedWrites));
        Assert.Equal(3, all.Faults[FaultKind.KillLeader]);
        Assert.Equal(1, all.Faults[FaultKind.RemoveLeader]);
        Assert.Equal(1500, all.LongestWriteGapMs[FaultKind.KillLeader]);
        Assert.Equal([1000, 1100, 1200], all.ElectionMs[FaultKind.KillLeader]);
    }
}
