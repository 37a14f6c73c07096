using System.Diagnostics.Metrics;

namespace Raft.Shell.Node;

/// <summary>
/// The node's metrics on a Meter named <c>Raft.Node</c>, with etcd's names
/// (server/etcdserver/metrics.go, server/wal/metrics.go) so that dashboards built for etcd read
/// them. Gauges are observed from fields the node updates.
/// </summary>
internal sealed class NodeMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Raft.Node";

    private long _hasLeader;
    private long _isLeader;
    private long _isLearner;
    private long _committed;
    private long _applied;
    private long _pending;

    private readonly Counter<long> _leaderChanges;
    private readonly Counter<long> _proposalsFailed;
    private readonly Counter<long> _heartbeatSendFailures;
    private readonly Counter<long> _slowReadIndex;
    private readonly Counter<long> _readIndexFailed;
    private readonly UpDownCounter<long> _snapshotApplyInProgress;
    private readonly Histogram<double> _walFsync;
    private readonly Histogram<double> _snapSave;
    private readonly Histogram<double> _applyDuration;

    /// <summary>Creates the instruments on a meter from <paramref name="factory"/>, or on a meter of its own.</summary>
    public NodeMetrics(IMeterFactory? factory = null)
    {
        Meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        Meter.CreateObservableGauge("etcd_server_has_leader", () => Volatile.Read(ref _hasLeader),
            description: "Whether or not a leader exists. 1 is existence, 0 is not.");
        Meter.CreateObservableGauge("etcd_server_is_leader", () => Volatile.Read(ref _isLeader),
            description: "Whether or not this member is a leader. 1 if is, 0 otherwise.");
        Meter.CreateObservableGauge("etcd_server_is_learner", () => Volatile.Read(ref _isLearner),
            description: "Whether or not this member is a learner. 1 if is, 0 otherwise.");
        Meter.CreateObservableGauge("etcd_server_proposals_committed_total", () => Volatile.Read(ref _committed),
            description: "The total number of consensus proposals committed.");
        Meter.CreateObservableGauge("etcd_server_proposals_applied_total", () => Volatile.Read(ref _applied),
            description: "The total number of consensus proposals applied.");
        Meter.CreateObservableGauge("etcd_server_proposals_pending", () => Volatile.Read(ref _pending),
            description: "The current number of pending proposals to commit.");
        _leaderChanges = Meter.CreateCounter<long>("etcd_server_leader_changes_seen_total",
            description: "The number of leader changes seen.");
        _proposalsFailed = Meter.CreateCounter<long>("etcd_server_proposals_failed_total",
            description: "The total number of failed proposals seen.");
        _heartbeatSendFailures = Meter.CreateCounter<long>("etcd_server_heartbeat_send_failures_total",
            description: "The total number of leader heartbeat send failures (likely overloaded from slow disk).");
        _slowReadIndex = Meter.CreateCounter<long>("etcd_server_slow_read_indexes_total",
            description: "The total number of pending read indexes not in sync with leader's or timed out read index requests.");
        _readIndexFailed = Meter.CreateCounter<long>("etcd_server_read_indexes_failed_total",
            description: "The total number of failed read indexes seen.");
        _snapshotApplyInProgress = Meter.CreateUpDownCounter<long>("etcd_server_snapshot_apply_in_progress_total",
            description: "1 if the server is applying the incoming snapshot. 0 if none.");
        _walFsync = Meter.CreateHistogram<double>("etcd_disk_wal_fsync_duration_seconds", unit: "s",
            description: "The latency distributions of fsync called by WAL.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = ExponentialBuckets(0.001, 2, 14) });
        _snapSave = Meter.CreateHistogram<double>("etcd_debugging_snap_save_total_duration_seconds", unit: "s",
            description: "The total latency distributions of save called by snapshot.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = ExponentialBuckets(0.001, 2, 14) });
        _applyDuration = Meter.CreateHistogram<double>("etcd_server_apply_duration_seconds", unit: "s",
            description: "The latency distributions of v2 apply called by backend.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = ExponentialBuckets(0.0001, 2, 20) });
    }

    /// <summary>The meter holding every instrument above.</summary>
    public Meter Meter { get; }

    /// <summary>Prometheus' ExponentialBuckets(start, factor, count).</summary>
    public static IReadOnlyList<double> ExponentialBuckets(double start, double factor, int count)
    {
        var b = new double[count];
        for (var i = 0; i < count; i++)
            b[i] = start * Math.Pow(factor, i);
        return b;
    }

    internal void SetLeader(bool hasLeader, bool isLeader)
    {
        Volatile.Write(ref _hasLeader, hasLeader ? 1 : 0);
        Volatile.Write(ref _isLeader, isLeader ? 1 : 0);
    }

    internal void SetLearner(bool isLearner) => Volatile.Write(ref _isLearner, isLearner ? 1 : 0);
    internal void LeaderChanged() => _leaderChanges.Add(1);
    internal void SetCommitted(ulong index) => Volatile.Write(ref _committed, (long)index);
    internal void SetApplied(ulong index) => Volatile.Write(ref _applied, (long)index);
    internal void ProposalPending() => Interlocked.Increment(ref _pending);
    internal void ProposalDone() => Interlocked.Decrement(ref _pending);
    internal void ProposalFailed() => _proposalsFailed.Add(1);
    internal void HeartbeatSendFailure() => _heartbeatSendFailures.Add(1);
    internal void SlowReadIndex() => _slowReadIndex.Add(1);
    internal void ReadIndexFailed() => _readIndexFailed.Add(1);
    internal void SnapshotApplyStarted() => _snapshotApplyInProgress.Add(1);
    internal void SnapshotApplyFinished() => _snapshotApplyInProgress.Add(-1);
    internal void WalFsync(TimeSpan t) => _walFsync.Record(t.TotalSeconds);
    internal void SnapSave(TimeSpan t) => _snapSave.Record(t.TotalSeconds);
    internal void Applied(TimeSpan t) => _applyDuration.Record(t.TotalSeconds);

    /// <summary>Disposes the meter (and with it every instrument).</summary>
    public void Dispose() => Meter.Dispose();
}
