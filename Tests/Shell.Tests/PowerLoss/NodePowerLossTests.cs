using Xunit.Abstractions;

namespace Raft.Shell.Tests.PowerLoss;

/// <summary>
/// Whole members (WAL, snapshotter, runner, apply loop; TCP between members) on disks that lose
/// what was not synced: every member loses power at once, at seeded moments, many times over, and
/// every acknowledged proposal is there after each reboot. The same runs with fsync turned off,
/// or with a WAL whose new segments' names are never made durable, lose acknowledged writes.
/// </summary>
public class NodePowerLossTests(ITestOutputHelper output)
{
    private async Task<PowerLossResult> Run(PowerLossSettings settings)
    {
        var random = TestSeed.NewRandom(output.WriteLine);
        await using var run = new PowerLossRun(settings, random, output.WriteLine);
        var result = await run.RunAsync();
        output.WriteLine(result.ToString());
        foreach (var p in result.Problems.Take(10)) output.WriteLine(p);
        return result;
    }

    [Theory]
    [InlineData(1, 25)]
    [InlineData(3, 15)]
    public async Task EveryAcknowledgedProposalSurvivesPowerCuts(int members, int cycles)
    {
        var r = await Run(new PowerLossSettings(members, cycles));
        Assert.True(r.Lost == 0 && r.RestartFailures == 0 && r.Divergent == 0, $"{r}: {string.Join("; ", r.Problems.Take(3))} ({TestSeed.Describe})");
        Assert.Equal(cycles, r.Checks);
        Assert.True(r.Acknowledged > 0 && r.AcknowledgedChecked > 0, $"{r} ({TestSeed.Describe})");
    }

    /// <summary>
    /// One member at a time loses power while the others keep taking writes; it reboots from what
    /// its disk kept and catches up (from a snapshot when the log it needs was compacted away).
    /// </summary>
    [Fact]
    public async Task OneMemberAtATimeLosesPowerAndCatchesUp()
    {
        var r = await Run(new PowerLossSettings(3, 8, OneAtATime: true));
        Assert.True(r.Lost == 0 && r.RestartFailures == 0 && r.Divergent == 0, $"{r}: {string.Join("; ", r.Problems.Take(3))} ({TestSeed.Describe})");
        Assert.Equal(8, r.Checks);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task WithFsyncOffAcknowledgedProposalsAreLost(int members)
    {
        var r = await Run(new PowerLossSettings(members, 6, NoFsync: true, StopAtFirstLoss: true));
        Assert.True(r.Lost > 0, $"fsync off lost nothing: {r} ({TestSeed.Describe})");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task AWalThatDoesNotFsyncItsDirectoryAfterACutLosesAcknowledgedProposals(int members)
    {
        var r = await Run(new PowerLossSettings(members, 6, SegmentSize: 8 * 1024, IgnoreWalDirFsync: true, StopAtFirstLoss: true));
        Assert.True(r.DirectoryFsyncsIgnored > 0, $"no fsync of the WAL directory was skipped: {r} ({TestSeed.Describe})");
        Assert.True(r.Lost > 0, $"skipping the WAL directory's fsync lost nothing: {r} ({TestSeed.Describe})");
    }
}
