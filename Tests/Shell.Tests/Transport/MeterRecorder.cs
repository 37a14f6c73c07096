using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Raft.Shell.Tests.Transport;

/// <summary>
/// Hands a transport its own meter and sums what is recorded on it, per instrument and tag set, so a
/// test sees only its own transport's measurements (other tests' transports use the same meter name).
/// </summary>
internal sealed class MeterRecorder : IMeterFactory
{
    private readonly ConcurrentBag<Meter> meters = [];
    private readonly ConcurrentDictionary<string, long> sums = new();
    private readonly MeterListener listener = new();

    public MeterRecorder()
    {
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (meters.Contains(instrument.Meter)) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var key = instrument.Name + "{" + string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}")) + "}";
            sums.AddOrUpdate(key, value, (_, old) => old + value);
        });
        listener.Start();
    }

    public Meter Create(MeterOptions options)
    {
        var m = new Meter(options);
        meters.Add(m);
        listener.RecordObservableInstruments();
        return m;
    }

    /// <summary>The running total for <c>name{tags}</c>, e.g. <c>etcd_network_peer_sent_bytes_total{To=2}</c>.</summary>
    public long Sum(string key) => sums.TryGetValue(key, out var v) ? v : 0;

    public void Dispose()
    {
        listener.Dispose();
        foreach (var m in meters) m.Dispose();
    }
}
