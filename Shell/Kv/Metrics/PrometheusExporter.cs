using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Raft.Kv.Metrics;

/// <summary>
/// Exports every instrument of the chosen meters in Prometheus' text exposition format (0.0.4):
/// counters and observable counters as <c>counter</c>, up-down counters and gauges as <c>gauge</c>,
/// histograms as <c>histogram</c> with the instrument's advised bucket boundaries (Prometheus' default
/// buckets otherwise). Names are kept as they are (characters Prometheus does not allow become '_');
/// meter, instrument and measurement tags become labels.
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    /// <summary>The content type of <see cref="Scrape"/>'s output.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Prometheus' DefBuckets, for histograms that advise none.</summary>
    public static IReadOnlyList<double> DefaultBuckets { get; } = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly Func<Meter, bool> _include;
    private readonly MeterListener _listener;
    private readonly ConcurrentDictionary<Instrument, Aggregator> _instruments = new();
    private readonly object _scrapeLock = new();

    /// <summary>Exports the instruments of every meter for which <paramref name="include"/> is true.</summary>
    public PrometheusExporter(Func<Meter, bool> include)
    {
        _include = include;
        _listener = new MeterListener
        {
            InstrumentPublished = OnInstrumentPublished,
            MeasurementsCompleted = (instrument, _) => _instruments.TryRemove(instrument, out Aggregator? _),
        };
        _listener.SetMeasurementEventCallback<byte>((i, v, t, s) => ((Aggregator)s!).Record(v, t));
        _listener.SetMeasurementEventCallback<short>((i, v, t, s) => ((Aggregator)s!).Record(v, t));
        _listener.SetMeasurementEventCallback<int>((i, v, t, s) => ((Aggregator)s!).Record(v, t));
        _listener.SetMeasurementEventCallback<long>((i, v, t, s) => ((Aggregator)s!).Record(v, t));
        _listener.SetMeasurementEventCallback<float>((i, v, t, s) => ((Aggregator)s!).Record(v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, s) => ((Aggregator)s!).Record(v, t));
        _listener.SetMeasurementEventCallback<decimal>((i, v, t, s) => ((Aggregator)s!).Record((double)v, t));
        // Start also publishes the instruments that exist already.
        _listener.Start();
    }

    /// <summary>Exports the instruments of every meter with one of <paramref name="meterNames"/>.</summary>
    public PrometheusExporter(IEnumerable<string> meterNames)
        : this(MeterNamed(meterNames))
    {
    }

    private static Func<Meter, bool> MeterNamed(IEnumerable<string> meterNames)
    {
        var names = meterNames.ToHashSet(StringComparer.Ordinal);
        return meter => names.Contains(meter.Name);
    }

    private void OnInstrumentPublished(Instrument instrument, MeterListener listener)
    {
        if (!_include(instrument.Meter)) return;
        var aggregator = Aggregator.For(instrument);
        if (aggregator is null) return;
        _instruments[instrument] = aggregator;
        listener.EnableMeasurementEvents(instrument, aggregator);
    }

    /// <summary>The current values of every exported instrument, as UTF-8 exposition text.</summary>
    public byte[] Scrape() => Encoding.UTF8.GetBytes(ScrapeText());

    /// <summary>The current values of every exported instrument, as exposition text.</summary>
    public string ScrapeText()
    {
        lock (_scrapeLock)
        {
            // Observable instruments report now; drop what they reported last time first.
            foreach (var a in _instruments.Values)
            {
                if (a.Instrument.IsObservable) a.Clear();
            }
            _listener.RecordObservableInstruments();

            var text = new StringBuilder();
            // One HELP/TYPE block per name, even when several meters (e.g. several nodes in one process) share it.
            foreach (var group in _instruments.Values.GroupBy(a => a.Name).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var first = group.First();
                if (!string.IsNullOrEmpty(first.Instrument.Description))
                    text.Append("# HELP ").Append(group.Key).Append(' ').Append(EscapeHelp(first.Instrument.Description)).Append('\n');
                text.Append("# TYPE ").Append(group.Key).Append(' ').Append(first.PrometheusType).Append('\n');
                foreach (var a in group) a.WriteSeries(text);
            }
            return text.ToString();
        }
    }

    /// <summary>Stops listening.</summary>
    public void Dispose() => _listener.Dispose();

    /// <summary>A metric or label name with the characters Prometheus does not allow replaced by '_'.</summary>
    public static string SanitizeName(string name, bool label = false)
    {
        var chars = name.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            var c = chars[i];
            var ok = char.IsAsciiLetter(c) || c == '_' || (!label && c == ':') || (i > 0 && char.IsAsciiDigit(c));
            if (!ok) chars[i] = '_';
        }
        return chars.Length == 0 ? "_" : new string(chars);
    }

    private static string EscapeHelp(string s) => s.Replace("\\", "\\\\").Replace("\n", "\\n");

    private static string EscapeLabelValue(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    /// <summary>A sample value as Prometheus writes one: integers plainly, +Inf/-Inf/NaN, else the shortest round-trip form.</summary>
    public static string FormatValue(double v)
    {
        if (double.IsPositiveInfinity(v)) return "+Inf";
        if (double.IsNegativeInfinity(v)) return "-Inf";
        if (double.IsNaN(v)) return "NaN";
        if (v == Math.Floor(v) && Math.Abs(v) < 1e15) return ((long)v).ToString(CultureInfo.InvariantCulture);
        return v.ToString("R", CultureInfo.InvariantCulture).Replace('E', 'e');
    }

    /// <summary>The label set of a series: meter tags, instrument tags, then measurement tags, as {a="x",...} (empty for none).</summary>
    private static string Labels(IEnumerable<KeyValuePair<string, object?>> fixedTags, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var all = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var t in fixedTags) all[SanitizeName(t.Key, label: true)] = Convert.ToString(t.Value, CultureInfo.InvariantCulture) ?? "";
        foreach (var t in tags) all[SanitizeName(t.Key, label: true)] = Convert.ToString(t.Value, CultureInfo.InvariantCulture) ?? "";
        if (all.Count == 0) return "";
        var sb = new StringBuilder("{");
        foreach (var (k, v) in all)
        {
            if (sb.Length > 1) sb.Append(',');
            sb.Append(k).Append("=\"").Append(EscapeLabelValue(v)).Append('"');
        }
        return sb.Append('}').ToString();
    }

    /// <summary>Adds a label to a label set written by <see cref="Labels"/>.</summary>
    private static string WithLabel(string labels, string name, string value) =>
        labels.Length == 0 ? $"{{{name}=\"{value}\"}}" : $"{labels[..^1]},{name}=\"{value}\"}}";

    /// <summary>One instrument's series, keyed by label set.</summary>
    private abstract class Aggregator(Instrument instrument, string prometheusType)
    {
        private readonly KeyValuePair<string, object?>[] _fixedTags =
            [.. instrument.Meter.Tags ?? [], .. instrument.Tags ?? []];

        public Instrument Instrument { get; } = instrument;

        public string Name { get; } = SanitizeName(instrument.Name);

        public string PrometheusType { get; } = prometheusType;

        protected object Gate { get; } = new();

        protected string LabelsOf(ReadOnlySpan<KeyValuePair<string, object?>> tags) =>
            tags.IsEmpty && _fixedTags.Length == 0 ? "" : Labels(_fixedTags, tags);

        public abstract void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags);

        public abstract void Clear();

        public abstract void WriteSeries(StringBuilder text);

        public static Aggregator? For(Instrument instrument)
        {
            var type = instrument.GetType();
            if (!type.IsGenericType) return null;
            var kind = type.GetGenericTypeDefinition();
            if (kind == typeof(Counter<>)) return new Sum(instrument, "counter");
            if (kind == typeof(UpDownCounter<>)) return new Sum(instrument, "gauge");
            if (kind == typeof(ObservableCounter<>)) return new Last(instrument, "counter");
            if (kind == typeof(ObservableUpDownCounter<>) || kind == typeof(ObservableGauge<>) || kind == typeof(Gauge<>)) return new Last(instrument, "gauge");
            if (kind == typeof(Histogram<>)) return new HistogramAggregator(instrument, BucketsOf(instrument));
            return null;
        }

        private static double[] BucketsOf(Instrument instrument)
        {
            IEnumerable<double>? advised = instrument switch
            {
                Histogram<double> h => h.Advice?.HistogramBucketBoundaries,
                Histogram<float> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b),
                Histogram<long> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b),
                Histogram<int> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b),
                Histogram<short> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b),
                Histogram<byte> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b),
                Histogram<decimal> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b),
                _ => null,
            };
            return (advised ?? DefaultBuckets).Distinct().Order().ToArray();
        }
    }

    /// <summary>Counters and up-down counters: the sum of every measurement.</summary>
    private sealed class Sum(Instrument instrument, string prometheusType) : Aggregator(instrument, prometheusType)
    {
        private readonly Dictionary<string, double> _series = new(StringComparer.Ordinal);

        public override void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = LabelsOf(tags);
            lock (Gate) _series[labels] = _series.GetValueOrDefault(labels) + value;
        }

        public override void Clear()
        {
            lock (Gate) _series.Clear();
        }

        public override void WriteSeries(StringBuilder text)
        {
            lock (Gate)
            {
                foreach (var (labels, value) in _series.OrderBy(s => s.Key, StringComparer.Ordinal))
                    text.Append(Name).Append(labels).Append(' ').Append(FormatValue(value)).Append('\n');
            }
        }
    }

    /// <summary>Observed values and gauges: the last measurement.</summary>
    private sealed class Last(Instrument instrument, string prometheusType) : Aggregator(instrument, prometheusType)
    {
        private readonly Dictionary<string, double> _series = new(StringComparer.Ordinal);

        public override void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = LabelsOf(tags);
            lock (Gate) _series[labels] = value;
        }

        public override void Clear()
        {
            lock (Gate) _series.Clear();
        }

        public override void WriteSeries(StringBuilder text)
        {
            lock (Gate)
            {
                foreach (var (labels, value) in _series.OrderBy(s => s.Key, StringComparer.Ordinal))
                    text.Append(Name).Append(labels).Append(' ').Append(FormatValue(value)).Append('\n');
            }
        }
    }

    /// <summary>Histograms: a count per bucket (upper bounds inclusive, as Prometheus' le), sum and count.</summary>
    private sealed class HistogramAggregator(Instrument instrument, double[] bounds) : Aggregator(instrument, "histogram")
    {
        private sealed class Series(int buckets)
        {
            public readonly long[] Counts = new long[buckets];
            public double Sum;
            public long Count;
        }

        private readonly Dictionary<string, Series> _series = new(StringComparer.Ordinal);

        public override void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = LabelsOf(tags);
            var i = Array.BinarySearch(bounds, value);
            var bucket = i >= 0 ? i : ~i; // the first bound >= value; bounds.Length is +Inf
            lock (Gate)
            {
                if (!_series.TryGetValue(labels, out var s)) _series[labels] = s = new Series(bounds.Length + 1);
                s.Counts[bucket]++;
                s.Sum += value;
                s.Count++;
            }
        }

        public override void Clear()
        {
            lock (Gate) _series.Clear();
        }

        public override void WriteSeries(StringBuilder text)
        {
            lock (Gate)
            {
                foreach (var (labels, s) in _series.OrderBy(x => x.Key, StringComparer.Ordinal))
                {
                    long cumulative = 0;
                    for (var b = 0; b <= bounds.Length; b++)
                    {
                        cumulative += s.Counts[b];
                        var le = b < bounds.Length ? FormatValue(bounds[b]) : "+Inf";
                        text.Append(Name).Append("_bucket").Append(WithLabel(labels, "le", le)).Append(' ').Append(cumulative).Append('\n');
                    }
                    text.Append(Name).Append("_sum").Append(labels).Append(' ').Append(FormatValue(s.Sum)).Append('\n');
                    text.Append(Name).Append("_count").Append(labels).Append(' ').Append(s.Count).Append('\n');
                }
            }
        }
    }
}
