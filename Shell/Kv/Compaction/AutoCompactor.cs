namespace Raft.Kv.Compaction;

/// <summary>
/// When to compact, as etcd's v3compactor decides it, without a clock or a node of its own: the
/// caller ticks it every <see cref="TickInterval"/> with the time and the store's revision, and
/// proposes a compaction at the revision a tick returns.
/// </summary>
/// <remarks>
/// <para>Revision mode (etcd's Revision compactor): every 5 minutes, compact at the current revision
/// minus the retention, unless that is not above 0 or was the last one compacted.</para>
/// <para>Periodic mode (etcd's Periodic compactor): sample the revision every tenth of the period
/// (of an hour for periods longer than that) and, once a period has passed since the last success
/// (then once per period, at most an hour), compact at the oldest sample kept, the revision of one
/// period ago.</para>
/// </remarks>
public sealed class AutoCompactor
{
    private readonly bool _periodic;
    private readonly TimeSpan _period;
    private readonly long _retention;
    private readonly List<long> _samples = [];
    private DateTimeOffset _lastSuccess;
    private TimeSpan _baseInterval;
    private long _lastRevision;

    private AutoCompactor(bool periodic, TimeSpan period, long retention, DateTimeOffset start)
    {
        (_periodic, _period, _retention, _lastSuccess, _baseInterval) = (periodic, period, retention, start, period);
        var compactInterval = period > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : period;
        TickInterval = periodic ? compactInterval / 10 : TimeSpan.FromMinutes(5);
    }

    /// <summary>A compactor keeping the last <paramref name="period"/> of history.</summary>
    public static AutoCompactor Periodic(TimeSpan period, DateTimeOffset start) =>
        period > TimeSpan.Zero ? new(true, period, 0, start) : throw new ArgumentOutOfRangeException(nameof(period), "the period must be positive");

    /// <summary>A compactor keeping the last <paramref name="retention"/> revisions.</summary>
    public static AutoCompactor Revision(long retention, DateTimeOffset start) =>
        retention > 0 ? new(false, TimeSpan.Zero, retention, start) : throw new ArgumentOutOfRangeException(nameof(retention), "the retention must be positive");

    /// <summary>
    /// The compactor etcd's <c>--auto-compaction-mode</c> and <c>--auto-compaction-retention</c>
    /// configure, or null when disabled (retention "0" or empty). In periodic mode the retention is a
    /// duration ("1h", "30m", "90s", or a number of hours); in revision mode a number of revisions.
    /// </summary>
    /// <exception cref="FormatException">The mode or the retention is not one etcd accepts.</exception>
    public static AutoCompactor? FromOptions(string mode, string retention, DateTimeOffset start)
    {
        if (string.IsNullOrWhiteSpace(retention) || retention.Trim() == "0") return null;
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        switch (mode.Trim().ToLowerInvariant())
        {
            case "periodic":
            case "":
                if (double.TryParse(retention, System.Globalization.NumberStyles.Float, inv, out var hours)) return Periodic(TimeSpan.FromHours(hours), start);
                return Periodic(ParseDuration(retention), start);
            case "revision":
                return long.TryParse(retention, System.Globalization.NumberStyles.None, inv, out var revisions)
                    ? Revision(revisions, start)
                    : throw new FormatException($"auto compaction retention {retention} is not a number of revisions");
            default:
                throw new FormatException($"unknown auto compaction mode {mode} (periodic or revision)");
        }
    }

    /// <summary>Go's time.ParseDuration for the units etcd's flags use: h, m, s, ms, combined ("1h30m").</summary>
    /// <exception cref="FormatException">Not such a duration.</exception>
    public static TimeSpan ParseDuration(string text)
    {
        var total = TimeSpan.Zero;
        var match = System.Text.RegularExpressions.Regex.Match(text.Trim(), @"^(?:(\d+(?:\.\d+)?)(h|ms|m|s))+$");
        if (!match.Success) throw new FormatException($"{text} is not a duration (such as 100ms, 5s, 1h30m)");
        for (var i = 0; i < match.Groups[1].Captures.Count; i++)
        {
            var n = double.Parse(match.Groups[1].Captures[i].Value, System.Globalization.CultureInfo.InvariantCulture);
            total += match.Groups[2].Captures[i].Value switch
            {
                "h" => TimeSpan.FromHours(n),
                "m" => TimeSpan.FromMinutes(n),
                "s" => TimeSpan.FromSeconds(n),
                _ => TimeSpan.FromMilliseconds(n),
            };
        }
        return total;
    }

    /// <summary>How often to call <see cref="Tick"/>.</summary>
    public TimeSpan TickInterval { get; }

    /// <summary>
    /// One tick at <paramref name="now"/> with the store at <paramref name="currentRevision"/>: the
    /// revision to compact at, or null. Report the outcome with <see cref="Compacted"/>.
    /// </summary>
    public long? Tick(DateTimeOffset now, long currentRevision)
    {
        if (!_periodic)
        {
            var rev = currentRevision - _retention;
            return rev <= 0 || rev == _lastRevision ? null : rev;
        }
        // The sample taken before waiting: samples[0] is the revision of one period ago.
        if (now - _lastSuccess < _baseInterval)
        {
            Sample(currentRevision);
            return null;
        }
        if (_baseInterval == _period) _baseInterval = _period > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : _period;
        var oldest = _samples.Count > 0 ? _samples[0] : currentRevision;
        Sample(currentRevision);
        return oldest;
    }

    private void Sample(long revision)
    {
        _samples.Add(revision);
        var retentions = (int)(_period / (TickInterval)) + 1;
        if (_samples.Count > retentions) _samples.RemoveAt(0);
    }

    /// <summary>
    /// The outcome of compacting at <paramref name="revision"/>: success, or "already compacted",
    /// counts as done (etcd's compactors treat ErrCompacted as success).
    /// </summary>
    public void Compacted(long revision, bool done, DateTimeOffset now)
    {
        if (!done) return;
        _lastRevision = revision;
        _lastSuccess = now;
    }
}
