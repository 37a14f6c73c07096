using Raft.Kv.Compaction;

namespace Raft.Shell.Tests.Kv;

public class AutoCompactorTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void RevisionModeCompactsAtTheCurrentRevisionMinusTheRetentionOncePerRevision()
    {
        var c = AutoCompactor.FromOptions("revision", "100", T0)!;
        Assert.Equal(TimeSpan.FromMinutes(5), c.TickInterval);
        Assert.Null(c.Tick(T0, 100));
        Assert.Equal(50, c.Tick(T0, 150));
        c.Compacted(50, true, T0);
        Assert.Null(c.Tick(T0, 150));
        Assert.Equal(60, c.Tick(T0, 160));
        // A failure is tried again.
        c.Compacted(60, false, T0);
        Assert.Equal(60, c.Tick(T0, 160));
    }

    [Fact]
    public void PeriodicModeCompactsAtTheRevisionOfOnePeriodAgo()
    {
        var c = AutoCompactor.FromOptions("periodic", "10m", T0)!;
        Assert.Equal(TimeSpan.FromMinutes(1), c.TickInterval);
        long? compacted = null;
        var now = T0;
        // The revision grows by 10 a minute; the first compaction comes once ten minutes have passed.
        for (var minute = 1; minute <= 10; minute++)
        {
            now = T0.AddMinutes(minute);
            compacted = c.Tick(now, 10 * minute);
            if (minute < 10) Assert.Null(compacted);
        }
        // The oldest sample kept: the revision at minute 1 (etcd also samples at the start, which this has no revision for).
        Assert.Equal(10, compacted);
        c.Compacted(compacted!.Value, true, now);
        // Then once per period again.
        for (var minute = 11; minute < 20; minute++) Assert.Null(c.Tick(T0.AddMinutes(minute), 10 * minute));
        // Eleven samples are kept (period / interval + 1), so the oldest is the one of minute 9, as in etcd.
        Assert.Equal(90, c.Tick(T0.AddMinutes(20), 200));
    }

    [Theory]
    [InlineData("periodic", "0")]
    [InlineData("revision", "")]
    public void AZeroRetentionDisablesIt(string mode, string retention) => Assert.Null(AutoCompactor.FromOptions(mode, retention, T0));

    [Theory]
    [InlineData("periodic", "1x")]
    [InlineData("revision", "1h")]
    [InlineData("weekly", "1")]
    public void BadOptionsAreRefused(string mode, string retention) => Assert.Throws<FormatException>(() => AutoCompactor.FromOptions(mode, retention, T0));

    [Fact]
    public void PeriodicRetentionIsADurationOrHours()
    {
        Assert.Equal(TimeSpan.FromHours(1) / 10, AutoCompactor.FromOptions("periodic", "5h", T0)!.TickInterval);
        // Longer than an hour: sampled every tenth of an hour.
        Assert.Equal(TimeSpan.FromMinutes(6), AutoCompactor.FromOptions("periodic", "1.5", T0)!.TickInterval);
        Assert.Equal(TimeSpan.FromMinutes(3), AutoCompactor.FromOptions("periodic", "30m", T0)!.TickInterval);
        Assert.Equal(TimeSpan.FromSeconds(9), AutoCompactor.FromOptions("periodic", "1m30s", T0)!.TickInterval);
    }
}
