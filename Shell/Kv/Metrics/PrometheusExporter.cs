using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using Prometheus;

namespace Raft.Kv.Metrics;

/// <summary>
/// Exports every instrument of the chosen meters through prometheus-net, in Prometheus' text
/// exposition format (0.0.4): counters and observable counters as <c>counter</c>, up-down counters and
/// gauges as <c>gauge</c>, histograms as <c>histogram</c> with the instrument's advised bucket
/// boundaries (Prometheus' default buckets otherwise). Names are the instruments' own (etcd's names,
/// e.g. <c>etcd_server_has_leader</c>; characters Prometheus does not allow become '_'); meter,
/// instrument and measurement tags become labels. Each exporter has a registry of its own, so a
/// process running several members gives each member's /metrics its own figures.
/// </summary>
/// <remarks>
/// prometheus-net's own bridge from System.Diagnostics.Metrics (MeterAdapter, 8.2.1) is not used: it
/// names every metric <c>{meter}_{instrument}</c> (<c>raft_node_etcd_server_leader_changes_seen_total</c>
/// instead of etcd's <c>etcd_server_leader_changes_seen_total</c>), exports counters as gauges, appends
/// the instrument's type to the help text, and drops a series that has not changed for five minutes
/// (MetricsExpireAfter), so a quiet member's counters would vanish.
/// <c>PrometheusExporterTests.PrometheusNetsMeterAdapterRenamesAndRetypes</c> shows the first two.
/// Here a MeterListener hands each measurement to prometheus-net's metric of the instrument's own
/// name and kind, and prometheus-net keeps the series and writes the exposition.
/// </remarks>
public sealed class PrometheusExporter : IDisposable
{
    /// <summary>The content type of <see cref="ScrapeAsync"/>'s output.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Prometheus' DefBuckets, for histograms that advise none.</summary>
    public static IReadOnlyList<double> DefaultBuckets { get; } = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly Func<Meter, bool> _include;
    private readonly MeterListener _listener;
    private readonly CollectorRegistry _registry = Prometheus.Metrics.NewCustomRegistry();
    private readonly IMetricFactory _factory;
    private readonly ConcurrentDictionary<Instrument, Bridge> _instruments = new();
    private readonly SemaphoreSlim _scrapeLock = new(1, 1);

    /// <summary>Exports the instruments of every meter for which <paramref name="include"/> is true.</summary>
    public PrometheusExporter(Func<Meter, bool> include)
    {
        _include = include;
        _factory = Prometheus.Metrics.WithCustomRegistry(_registry);
        _listener = new MeterListener
        {
            InstrumentPublished = OnInstrumentPublished,
            MeasurementsCompleted = (instrument, _) =>
            {
                if (_instruments.TryRemove(instrument, out var bridge)) bridge.RemoveAll();
            },
        };
        _listener.SetMeasurementEventCallback<byte>((i, v, t, s) => ((Bridge)s!).Record(v, t));
        _listener.SetMeasurementEventCallback<short>((i, v, t, s) => ((Bridge)s!).Record(v, t));
        _listener.SetMeasurementEventCallback<int>((i, v, t, s) => ((Bridge)s!).Record(v, t));
        _listener.SetMeasurementEventCallback<long>((i, v, t, s) => ((Bridge)s!).Record(v, t));
        _listener.SetMeasurementEventCallback<float>((i, v, t, s) => ((Bridge)s!).Record(v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, s) => ((Bridge)s!).Record(v, t));
        _listener.SetMeasurementEventCallback<decimal>((i, v, t, s) => ((Bridge)s!).Record((double)v, t));
        // Start also publishes the instruments that exist already.
        _listener.Start();
    }

    /// <summary>Exports the instruments of every meter with one of <paramref name="meterNames"/>.</summary>
    public PrometheusExporter(IEnumerable<string> meterNames)
        : this(MeterNamed(meterNames, scope: null))
    {
    }

    /// <summary>
    /// Exports the instruments of the meters with one of <paramref name="meterNames"/> that
    /// <paramref name="scope"/> created (one member's meters, when several run in one process).
    /// </summary>
    public PrometheusExporter(IEnumerable<string> meterNames, IMeterFactory scope)
        : this(MeterNamed(meterNames, scope))
    {
    }

    private static Func<Meter, bool> MeterNamed(IEnumerable<string> meterNames, IMeterFactory? scope)
    {
        var names = meterNames.ToHashSet(StringComparer.Ordinal);
        return meter => names.Contains(meter.Name) && (scope is null || ReferenceEquals(meter.Scope, scope));
    }

    private void OnInstrumentPublished(Instrument instrument, MeterListener listener)
    {
        if (!_include(instrument.Meter)) return;
        var bridge = Bridge.For(instrument, _factory);
        if (bridge is null) return;
        _instruments[instrument] = bridge;
        listener.EnableMeasurementEvents(instrument, bridge);
    }

    /// <summary>The current values of every exported instrument, as UTF-8 exposition text.</summary>
    public async Task<byte[]> ScrapeAsync(CancellationToken cancellationToken = default)
    {
        await _scrapeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Observable instruments report now; a series they no longer report goes.
            foreach (var b in _instruments.Values) b.BeginObservation();
            _listener.RecordObservableInstruments();
            foreach (var b in _instruments.Values) b.EndObservation();
            using var text = new MemoryStream();
            await _registry.CollectAndExportAsTextAsync(text, cancellationToken).ConfigureAwait(false);
            return text.ToArray();
        }
        finally
        {
            _scrapeLock.Release();
        }
    }

    /// <summary>The current values of every exported instrument, as exposition text.</summary>
    public string ScrapeText() => System.Text.Encoding.UTF8.GetString(ScrapeAsync().GetAwaiter().GetResult());

    /// <summary>Stops listening.</summary>
    public void Dispose()
    {
        _listener.Dispose();
        _scrapeLock.Dispose();
    }

    /// <summary>A metric or label name with the characters Prometheus does not allow replaced by '_'.</summary>
    internal static string SanitizeName(string name, bool label = false)
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

    /// <summary>
    /// One instrument's prometheus-net metric. Its label names are fixed by the first measurement
    /// (meter tags, instrument tags and measurement tags, sorted); a measurement with other tag
    /// names is not exported, as one metric name cannot have two label sets.
    /// </summary>
    private sealed class Bridge
    {
        private readonly Instrument _instrument;
        private readonly IMetricFactory _factory;
        private readonly Kind _kind;
        private readonly KeyValuePair<string, object?>[] _fixedTags;
        private readonly object _gate = new();
        private Collector? _metric;
        private string[] _labelNames = [];
        private readonly (string[] Names, LabelValues Values) _untagged;
        // Observable instruments: the series reported since BeginObservation, and those reported before.
        private HashSet<LabelValues>? _observed;
        private readonly HashSet<LabelValues> _series = [];

        private enum Kind
        {
            Counter,
            ObservedCounter,
            UpDownCounter,
            ObservedGauge,
            Histogram,
        }

        private Bridge(Instrument instrument, IMetricFactory factory, Kind kind)
        {
            _instrument = instrument;
            _factory = factory;
            _kind = kind;
            _fixedTags = [.. instrument.Meter.Tags ?? [], .. instrument.Tags ?? []];
            _untagged = LabelsOf([]);
        }

        public static Bridge? For(Instrument instrument, IMetricFactory factory)
        {
            var type = instrument.GetType();
            if (!type.IsGenericType) return null;
            var generic = type.GetGenericTypeDefinition();
            Kind? kind = generic == typeof(Counter<>) ? Kind.Counter
                : generic == typeof(UpDownCounter<>) ? Kind.UpDownCounter
                : generic == typeof(ObservableCounter<>) ? Kind.ObservedCounter
                : generic == typeof(ObservableUpDownCounter<>) || generic == typeof(ObservableGauge<>) || generic == typeof(Gauge<>) ? Kind.ObservedGauge
                : generic == typeof(Histogram<>) ? Kind.Histogram
                : null;
            return kind is { } k ? new Bridge(instrument, factory, k) : null;
        }

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            // Most measurements carry no tags: their label set is the fixed one, worked out once.
            var (names, values) = tags.IsEmpty ? _untagged : LabelsOf(tags);
            lock (_gate)
            {
                var metric = _metric ??= Create(names);
                if (!ReferenceEquals(names, _labelNames) && !names.AsSpan().SequenceEqual(_labelNames)) return;
                if (values.Values.Length > 0)
                {
                    _observed?.Add(values);
                    _series.Add(values);
                }
                var unlabelled = values.Values.Length == 0;
                switch (metric)
                {
                    case Prometheus.Counter c when _kind == Kind.ObservedCounter:
                        if (unlabelled) c.IncTo(value);
                        else c.WithLabels(values.Values).IncTo(value);
                        break;
                    case Prometheus.Counter c:
                        if (unlabelled) c.Inc(value);
                        else c.WithLabels(values.Values).Inc(value);
                        break;
                    case Prometheus.Gauge g when _kind == Kind.UpDownCounter:
                        if (unlabelled) g.Inc(value);
                        else g.WithLabels(values.Values).Inc(value);
                        break;
                    case Prometheus.Gauge g:
                        if (unlabelled) g.Set(value);
                        else g.WithLabels(values.Values).Set(value);
                        break;
                    case Prometheus.Histogram h:
                        if (unlabelled) h.Observe(value);
                        else h.WithLabels(values.Values).Observe(value);
                        break;
                }
            }
        }

        private (string[] Names, LabelValues Values) LabelsOf(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var t in _fixedTags) labels[SanitizeName(t.Key, label: true)] = Convert.ToString(t.Value, CultureInfo.InvariantCulture) ?? "";
            foreach (var t in tags) labels[SanitizeName(t.Key, label: true)] = Convert.ToString(t.Value, CultureInfo.InvariantCulture) ?? "";
            return ([.. labels.Keys], new LabelValues([.. labels.Values]));
        }

        private Collector Create(string[] labelNames)
        {
            _labelNames = labelNames;
            var name = SanitizeName(_instrument.Name);
            var help = _instrument.Description ?? "";
            return _kind switch
            {
                Kind.Counter or Kind.ObservedCounter => _factory.CreateCounter(name, help, labelNames),
                Kind.UpDownCounter or Kind.ObservedGauge => _factory.CreateGauge(name, help, labelNames),
                _ => _factory.CreateHistogram(name, help, labelNames, new HistogramConfiguration { Buckets = BucketsOf(_instrument) }),
            };
        }

        public void BeginObservation()
        {
            if (!_instrument.IsObservable) return;
            lock (_gate) _observed = [];
        }

        public void EndObservation()
        {
            if (!_instrument.IsObservable) return;
            lock (_gate)
            {
                foreach (var gone in _series.Where(s => !_observed!.Contains(s)).ToList()) Remove(gone);
                _observed = null;
            }
        }

        public void RemoveAll()
        {
            lock (_gate)
                foreach (var s in _series.ToList()) Remove(s);
        }

        private void Remove(LabelValues series)
        {
            _series.Remove(series);
            switch (_metric)
            {
                case Prometheus.Counter c: c.RemoveLabelled(series.Values); break;
                case Prometheus.Gauge g: g.RemoveLabelled(series.Values); break;
                case Prometheus.Histogram h: h.RemoveLabelled(series.Values); break;
            }
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

    /// <summary>A series' label values, compared by content.</summary>
    private sealed record LabelValues(string[] Values)
    {
        public bool Equals(LabelValues? other) => other is not null && Values.AsSpan().SequenceEqual(other.Values);

        public override int GetHashCode()
        {
            var h = new HashCode();
            foreach (var v in Values) h.Add(v);
            return h.ToHashCode();
        }
    }
}
