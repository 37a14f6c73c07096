using System.Buffers;
using System.Text.Json;
using Raft.Kv.Dashboard;

namespace Raft.Shell.Tests.Dashboard;

/// <summary>The page's in-process samples: latency percentiles from log bins, and the bucket ring.</summary>
public class RateWindowTests
{
    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(3.0)]
    [InlineData(250.0)]
    public void PercentilesOfOneLatencyAreThatLatencyWithinTheBinsWidth(double ms)
    {
        var h = new LatencyHistogram();
        for (var i = 0; i < 10; i++)
            h.Record(ms);
        foreach (var q in new[] { 0.5, 0.99 })
        {
            var p = h.Percentile(q)!.Value;
            Assert.InRange(p, ms / 1.15, ms * 1.15);
        }
    }

    [Fact]
    public void P50AndP99SeparateTheBulkFromTheTail()
    {
        var h = new LatencyHistogram();
        Assert.Null(h.Percentile(0.5));
        // 98 fast requests and 2 slow ones: the median is fast, the 99th percentile slow.
        for (var i = 0; i < 98; i++)
            h.Record(1.0);
        h.Record(100.0);
        h.Record(100.0);
        Assert.InRange(h.Percentile(0.50)!.Value, 1 / 1.15, 1 * 1.15);
        Assert.InRange(h.Percentile(0.99)!.Value, 100 / 1.15, 100 * 1.15);
        Assert.InRange(h.Percentile(0.98)!.Value, 1 / 1.15, 1 * 1.15);
    }

    [Fact]
    public void BucketsCountTheirOwnRequestsAndForgetThoseOfAnEarlierLapOfTheRing()
    {
        var clock = new ManualClock(DateTimeOffset.FromUnixTimeMilliseconds(1_000_000));
        var window = new RateWindow(TimeSpan.FromSeconds(2), 5, clock);
        window.Record(write: true, 1);
        window.Record(write: true, 1);
        window.Record(write: false, 1);
        clock.Now += TimeSpan.FromSeconds(2);
        window.Record(write: true, 1);
        var buckets = Buckets(window);
        Assert.Equal(5, buckets.Length);
        Assert.Equal([0, 0, 0, 2, 1], buckets.Select(b => b.GetProperty("writes").GetInt32()));
        Assert.Equal([0, 0, 0, 1, 0], buckets.Select(b => b.GetProperty("reads").GetInt32()));
        Assert.Equal(1_002_000, buckets[^1].GetProperty("t").GetInt64());
        // The newest bucket has only just begun: its rate is over the time it covers so far.
        Assert.True(buckets[^1].GetProperty("seconds").GetDouble() < 2);

        // Five buckets later the ring has come round: the old counts are gone, not added to.
        clock.Now += TimeSpan.FromSeconds(10);
        window.Record(write: true, 1);
        buckets = Buckets(window);
        Assert.Equal([0, 0, 0, 0, 1], buckets.Select(b => b.GetProperty("writes").GetInt32()));
        Assert.Equal(JsonValueKind.Null, buckets[0].GetProperty("write_p50_ms").ValueKind);
    }

    private static JsonElement[] Buckets(RateWindow window)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            window.Write(w);
            w.WriteEndObject();
        }
        return JsonDocument.Parse(buffer.WrittenMemory).RootElement.GetProperty("buckets").EnumerateArray().ToArray();
    }
}
