using System.Text.Json;

namespace Raft.Kv.Dashboard;

/// <summary>
/// Request counts and latencies of the last minutes in fixed time buckets (a ring indexed by the
/// bucket's number since the epoch, so a bucket nobody wrote to for a while reads as empty). Written
/// from request threads, read by the dashboard's data endpoint; one lock, held for microseconds.
/// </summary>
internal sealed class RateWindow
{
    private readonly Bucket[] _ring;
    private readonly long _bucketMs;
    private readonly TimeProvider _clock;
    private readonly Lock _lock = new();

    /// <param name="bucket">Width of one bucket.</param>
    /// <param name="buckets">Buckets kept (the window is their product).</param>
    /// <param name="clock">Wall clock.</param>
    public RateWindow(TimeSpan bucket, int buckets, TimeProvider clock)
    {
        _bucketMs = (long)bucket.TotalMilliseconds;
        _clock = clock;
        _ring = new Bucket[buckets];
        for (var i = 0; i < buckets; i++)
            _ring[i] = new Bucket();
    }

    /// <summary>Records one request of the given kind that took <paramref name="milliseconds"/>.</summary>
    public void Record(bool write, double milliseconds)
    {
        var number = _clock.GetUtcNow().ToUnixTimeMilliseconds() / _bucketMs;
        lock (_lock)
        {
            var b = Current(number);
            (write ? b.Writes : b.Reads).Record(milliseconds);
        }
    }

    private Bucket Current(long number)
    {
        var b = _ring[(int)(number % _ring.Length)];
        if (b.Number != number)
        {
            b.Number = number;
            b.Writes.Clear();
            b.Reads.Clear();
        }
        return b;
    }

    /// <summary>
    /// Writes the window oldest first as an array of buckets: start time (Unix ms), the seconds it
    /// covers (less for the current one), counts, and p50/p99 latencies in ms (null when no request).
    /// </summary>
    public void Write(Utf8JsonWriter w)
    {
        var nowMs = _clock.GetUtcNow().ToUnixTimeMilliseconds();
        var newest = nowMs / _bucketMs;
        w.WriteNumber("bucket_seconds"u8, _bucketMs / 1000.0);
        w.WriteStartArray("buckets"u8);
        lock (_lock)
        {
            for (var number = newest - _ring.Length + 1; number <= newest; number++)
            {
                var b = _ring[(int)(number % _ring.Length)];
                var fresh = b.Number == number;
                var start = number * _bucketMs;
                w.WriteStartObject();
                w.WriteNumber("t"u8, start);
                w.WriteNumber("seconds"u8, Math.Max(0.001, Math.Min(_bucketMs, nowMs - start) / 1000.0));
                w.WriteNumber("writes"u8, fresh ? b.Writes.Count : 0);
                w.WriteNumber("reads"u8, fresh ? b.Reads.Count : 0);
                Latency(w, "write_p50_ms"u8, fresh ? b.Writes.Percentile(0.50) : null);
                Latency(w, "write_p99_ms"u8, fresh ? b.Writes.Percentile(0.99) : null);
                Latency(w, "read_p50_ms"u8, fresh ? b.Reads.Percentile(0.50) : null);
                Latency(w, "read_p99_ms"u8, fresh ? b.Reads.Percentile(0.99) : null);
                w.WriteEndObject();
            }
        }
        w.WriteEndArray();
    }

    private static void Latency(Utf8JsonWriter w, ReadOnlySpan<byte> name, double? ms)
    {
        if (ms is { } v)
            w.WriteNumber(name, Math.Round(v, 3));
        else
            w.WriteNull(name);
    }

    private sealed class Bucket
    {
        public long Number = -1;
        public readonly LatencyHistogram Writes = new();
        public readonly LatencyHistogram Reads = new();
    }
}
