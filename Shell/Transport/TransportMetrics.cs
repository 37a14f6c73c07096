using System.Diagnostics.Metrics;

namespace Raft.Shell.Transport;

/// <summary>
/// The transport's instruments on the node's Meter (<see cref="MeterName"/>), named and labelled as
/// etcd's rafthttp metrics (etcd_network_*; label values are hex member ids).
/// </summary>
internal sealed class TransportMetrics : IDisposable
{
    /// <summary>The node's meter; every instrument of the node lives on a meter of this name.</summary>
    public const string MeterName = "Raft.Node";

    private readonly Meter meter;
    private readonly bool ownsMeter;

    public TransportMetrics(IMeterFactory? factory)
    {
        ownsMeter = factory is null;
        meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        ActivePeers = meter.CreateUpDownCounter<long>("etcd_network_active_peers", description: "The current number of active peer connections.");
        DisconnectedPeers = meter.CreateCounter<long>("etcd_network_disconnected_peers_total", description: "The total number of disconnected peers.");
        SentBytes = meter.CreateCounter<long>("etcd_network_peer_sent_bytes_total", description: "The total number of bytes sent to peers.");
        ReceivedBytes = meter.CreateCounter<long>("etcd_network_peer_received_bytes_total", description: "The total number of bytes received from peers.");
        SentFailures = meter.CreateCounter<long>("etcd_network_peer_sent_failures_total", description: "The total number of send failures from peers.");
        ReceivedFailures = meter.CreateCounter<long>("etcd_network_peer_received_failures_total", description: "The total number of receive failures from peers.");
        SnapshotSend = meter.CreateCounter<long>("etcd_network_snapshot_send_success", description: "Total number of successful snapshot sends");
        SnapshotSendFailures = meter.CreateCounter<long>("etcd_network_snapshot_send_failures", description: "Total number of snapshot send failures");
        SnapshotSendSeconds = meter.CreateHistogram<double>("etcd_network_snapshot_send_total_duration_seconds", description: "Total latency distributions of v3 snapshot sends");
        SnapshotReceive = meter.CreateCounter<long>("etcd_network_snapshot_receive_success", description: "Total number of successful snapshot receives");
        SnapshotReceiveFailures = meter.CreateCounter<long>("etcd_network_snapshot_receive_failures", description: "Total number of snapshot receive failures");
        SnapshotReceiveSeconds = meter.CreateHistogram<double>("etcd_network_snapshot_receive_total_duration_seconds", description: "Total latency distributions of v3 snapshot receives");
    }

    public UpDownCounter<long> ActivePeers { get; }
    public Counter<long> DisconnectedPeers { get; }
    public Counter<long> SentBytes { get; }
    public Counter<long> ReceivedBytes { get; }
    public Counter<long> SentFailures { get; }
    public Counter<long> ReceivedFailures { get; }
    public Counter<long> SnapshotSend { get; }
    public Counter<long> SnapshotSendFailures { get; }
    public Histogram<double> SnapshotSendSeconds { get; }
    public Counter<long> SnapshotReceive { get; }
    public Counter<long> SnapshotReceiveFailures { get; }
    public Histogram<double> SnapshotReceiveSeconds { get; }

    public static KeyValuePair<string, object?> To(string id) => new("To", id);
    public static KeyValuePair<string, object?> From(string id) => new("From", id);

    public void Dispose()
    {
        // A factory's meters belong to the factory (and are shared by every user of the name).
        if (ownsMeter) meter.Dispose();
    }
}
