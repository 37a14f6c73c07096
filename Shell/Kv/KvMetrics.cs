using System.Diagnostics.Metrics;
using Raft.Kv.Mvcc;

namespace Raft.Kv;

/// <summary>
/// The key-value service's metrics on a Meter named <c>Raft.Kv</c>, with etcd's names
/// (server/mvcc/metrics.go, server/etcdserver/api/etcdhttp/metrics.go).
/// </summary>
public sealed class KvMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Raft.Kv";

    private readonly Counter<long> _puts;
    private readonly Counter<long> _deletes;
    private readonly Counter<long> _ranges;
    private readonly Counter<long> _healthSuccess;
    private readonly Counter<long> _healthFailures;
    private MvccStore? _store;
    private Watch.WatcherHub? _hub;
    private readonly Counter<long> _txns;

    /// <summary>Creates the instruments on a meter from <paramref name="factory"/>, or on a meter of its own.</summary>
    public KvMetrics(IMeterFactory? factory = null)
    {
        Meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _puts = Meter.CreateCounter<long>("etcd_mvcc_put_total", description: "Total number of puts seen by this member.");
        _deletes = Meter.CreateCounter<long>("etcd_mvcc_delete_total", description: "Total number of deletes seen by this member.");
        _txns = Meter.CreateCounter<long>("etcd_mvcc_txn_total", description: "Total number of txns seen by this member.");
        _ranges = Meter.CreateCounter<long>("etcd_mvcc_range_total", description: "Total number of ranges seen by this member.");
        _healthSuccess = Meter.CreateCounter<long>("etcd_server_health_success", description: "The total number of successful health checks");
        _healthFailures = Meter.CreateCounter<long>("etcd_server_health_failures", description: "The total number of failed health checks");
        Meter.CreateObservableGauge("etcd_debugging_mvcc_keys_total", () => Observe(s => s.KeyCount),
            description: "Total number of keys.");
        Meter.CreateObservableGauge("etcd_debugging_mvcc_current_revision", () => Observe(s => s.CurrentRevision),
            description: "The current revision of store.");
        Meter.CreateObservableGauge("etcd_mvcc_db_total_size_in_use_in_bytes", () => Observe(s => s.SizeBytes),
            description: "Total size of the underlying database logically in use in bytes.");
        Meter.CreateObservableGauge("etcd_debugging_mvcc_watcher_total", () => ObserveHub(h => h.SyncedCount + h.UnsyncedCount),
            description: "Total number of watchers.");
        Meter.CreateObservableGauge("etcd_debugging_mvcc_slow_watcher_total", () => ObserveHub(h => h.UnsyncedCount),
            description: "Total number of unsynced slow watchers.");
        Meter.CreateObservableGauge("etcd_debugging_mvcc_watch_stream_total", () => ObserveHub(h => h.StreamCount),
            description: "Total number of watch streams.");
        Meter.CreateObservableGauge("etcd_debugging_mvcc_pending_events_total", () => ObserveHub(h => h.PendingEvents),
            description: "Total number of pending events to be sent.");
    }

    /// <summary>The meter holding every instrument above.</summary>
    public Meter Meter { get; }

    private IEnumerable<Measurement<long>> Observe(Func<MvccStore, long> read) =>
        Volatile.Read(ref _store) is { } store ? [new Measurement<long>(read(store))] : [];

    private IEnumerable<Measurement<long>> ObserveHub(Func<Watch.WatcherHub, long> read) =>
        Volatile.Read(ref _hub) is { } hub ? [new Measurement<long>(read(hub))] : [];

    /// <summary>Makes the watch gauges report <paramref name="hub"/>.</summary>
    internal void ObserveWatchers(Watch.WatcherHub hub) => Volatile.Write(ref _hub, hub);

    /// <summary>Makes the store gauges report <paramref name="store"/>.</summary>
    internal void ObserveStore(MvccStore store) => Volatile.Write(ref _store, store);

    internal void Put() => _puts.Add(1);

    internal void Delete() => _deletes.Add(1);

    internal void Range() => _ranges.Add(1);

    internal void Txn() => _txns.Add(1);

    internal void Health(bool healthy) => (healthy ? _healthSuccess : _healthFailures).Add(1);

    /// <summary>Disposes the meter.</summary>
    public void Dispose() => Meter.Dispose();
}
