using Raft.Kv.Lease;
using Raft.Kv.Mvcc;

namespace Raft.Shell.Tests.Kv.Lease;

/// <summary>The lessor on a clock the test moves: expiry only on the primary, refresh on promotion, keep-alive, limits.</summary>
public class LessorTests
{
    private sealed class ManualTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;

        public void Advance(double seconds) => Now += TimeSpan.FromSeconds(seconds);
    }

    [Fact]
    public void OnlyThePrimaryExpiresLeasesAndPromotionGivesEachItsTtlPlusTheElectionTimeout()
    {
        var time = new ManualTime();
        var lessor = new Lessor(time);
        Assert.Null(lessor.Grant(7, 10).Error);
        time.Advance(100);
        Assert.Empty(lessor.Expired());

        lessor.Promote(TimeSpan.FromSeconds(1));
        time.Advance(10.9);
        Assert.Empty(lessor.Expired());
        Assert.Equal(1, lessor.TimeToLive(7, false)!.RemainingTtl);
        time.Advance(0.2);
        Assert.Equal([7L], lessor.Expired());

        lessor.Demote();
        Assert.Empty(lessor.Expired());
        Assert.Equal(10, lessor.TimeToLive(7, false)!.RemainingTtl);
    }

    [Fact]
    public void KeepAliveRenewsTheFullTtlOnThePrimaryOnly()
    {
        var time = new ManualTime();
        var lessor = new Lessor(time);
        Assert.Equal(KvErrorKind.LeaseNotPrimary, lessor.Renew(1).Error?.Kind);
        lessor.Promote(TimeSpan.Zero);
        Assert.Equal(5, lessor.Grant(1, 5).Ttl);
        time.Advance(4);
        Assert.Equal((5L, (KvError?)null), lessor.Renew(1));
        time.Advance(4.9);
        Assert.Empty(lessor.Expired());
        time.Advance(0.2);
        Assert.Equal([1L], lessor.Expired());
        // An expired lease is being revoked: renewing it answers "not found".
        Assert.Equal(KvErrorKind.LeaseNotFound, lessor.Renew(1).Error?.Kind);
        Assert.Equal(KvErrorKind.LeaseNotFound, lessor.Renew(2).Error?.Kind);
    }

    [Fact]
    public void GrantsGetTheMinimumTtlAndRefuseUsedIdsAndHugeTtls()
    {
        var lessor = new Lessor(new ManualTime(), minTtl: 3);
        Assert.Equal(3, lessor.Grant(1, 1).Ttl);
        Assert.Equal(KvErrorKind.LeaseExists, lessor.Grant(1, 10).Error?.Kind);
        Assert.Equal(KvErrorKind.LeaseTtlTooLarge, lessor.Grant(2, Lessor.MaxTtl + 1).Error?.Kind);
        Assert.Equal([1L], lessor.Leases());
        Assert.Null(lessor.TimeToLive(2, true));
    }

    [Fact]
    public void ExpiredLeasesComeEarliestFirstAndUpToTheLimit()
    {
        var time = new ManualTime();
        var lessor = new Lessor(time);
        lessor.Promote(TimeSpan.Zero);
        lessor.Grant(3, 30);
        lessor.Grant(1, 10);
        lessor.Grant(2, 20);
        time.Advance(31);
        Assert.Equal([1L, 2L, 3L], lessor.Expired());
        Assert.Equal([1L, 2L], lessor.Expired(2));
    }
}
