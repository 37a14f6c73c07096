namespace Raft.Kv.Dashboard;

/// <summary>
/// Request latencies in logarithmic bins (each 15% wider than the one before, from 10 µs to past
/// three minutes): constant memory however many requests a bucket sees, and percentiles within
/// about 7% of the exact ones, which is all a chart needs.
/// </summary>
internal sealed class LatencyHistogram
{
    private const double FirstBoundMs = 0.01;
    private const double Growth = 1.15;
    private const int Bins = 120;
    private static readonly double LogGrowth = Math.Log(Growth);

    private readonly int[] _counts = new int[Bins];

    /// <summary>Requests recorded.</summary>
    public int Count { get; private set; }

    public void Clear()
    {
        Array.Clear(_counts);
        Count = 0;
    }

    public void Record(double milliseconds)
    {
        var bin = milliseconds <= FirstBoundMs ? 0 : (int)(Math.Log(milliseconds / FirstBoundMs) / LogGrowth);
        _counts[Math.Clamp(bin, 0, Bins - 1)]++;
        Count++;
    }

    /// <summary>
    /// The latency below which a fraction <paramref name="q"/> of the requests fell (the geometric
    /// middle of the bin that holds it); null when none was recorded.
    /// </summary>
    public double? Percentile(double q)
    {
        if (Count == 0)
            return null;
        var rank = Math.Max(1, (long)Math.Ceiling(q * Count));
        long seen = 0;
        for (var i = 0; i < Bins; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
                return FirstBoundMs * Math.Pow(Growth, i + 0.5);
        }
        return FirstBoundMs * Math.Pow(Growth, Bins);
    }
}
