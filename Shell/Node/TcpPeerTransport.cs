using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.Shell.Transport;

namespace Raft.Shell.Node;

/// <summary>
/// The node's side of the TCP <see cref="PeerTransport"/>: received messages and send outcomes go
/// to the <see cref="RaftNode"/>; the node's sends and peer changes go to the transport.
/// </summary>
public sealed class TcpPeerTransport : IPeerTransport, ITransportRaft, IAsyncDisposable
{
    private readonly RaftNode _node;
    private readonly PeerTransport _transport;
    private readonly ILogger _log;

    private TcpPeerTransport(PeerTransportContext context, Action<PeerTransportOptions>? configure, ILoggerFactory? loggers, System.Diagnostics.Metrics.IMeterFactory? meters)
    {
        _node = context.Node;
        _log = (ILogger?)loggers?.CreateLogger<TcpPeerTransport>() ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        var options = new PeerTransportOptions
        {
            MemberId = context.MemberId,
            ClusterId = context.ClusterId,
            ListenPeerUrls = context.ListenPeerUrls.ToList(),
        };
        configure?.Invoke(options);
        _transport = new PeerTransport(options, this, loggers?.CreateLogger<PeerTransport>(), meters);
        _transport.StartAsync().GetAwaiter().GetResult();
    }

    /// <summary>
    /// A factory for <see cref="RaftNodeDependencies.Transport"/>: binds the listen URLs when the
    /// node starts (a port in use fails the start).
    /// </summary>
    public static PeerTransportFactory Factory(ILoggerFactory? loggers = null, System.Diagnostics.Metrics.IMeterFactory? meters = null, Action<PeerTransportOptions>? configure = null) =>
        context => new TcpPeerTransport(context, configure, loggers, meters);

    /// <summary>The bound listen endpoints (real ports when 0 was asked for).</summary>
    public IReadOnlyList<System.Net.IPEndPoint> ListenEndpoints => _transport.ListenEndpoints;

    /// <inheritdoc/>
    public void Send(IReadOnlyList<Message> messages) => _transport.Send(messages);

    /// <inheritdoc/>
    public void SendSnapshot(Message message) => _transport.Send(message);

    /// <inheritdoc/>
    public void AddPeer(ulong id, IReadOnlyList<string> peerUrls) => _transport.AddPeer(id, peerUrls);

    /// <inheritdoc/>
    public void RemovePeer(ulong id) =>
        _ = _transport.RemovePeerAsync(id).ContinueWith(t => _log.LogError(t.Exception, "removing peer {Id:x} failed", id),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

    /// <inheritdoc/>
    public void UpdatePeer(ulong id, IReadOnlyList<string> peerUrls) => _transport.UpdatePeer(id, peerUrls);

    /// <summary>Waits for every peer to be gone, so that peers added next are not removed with them.</summary>
    public void RemoveAllPeers() => _transport.RemoveAllPeersAsync().GetAwaiter().GetResult();

    /// <inheritdoc/>
    public DateTimeOffset? ActiveSince(ulong id) => _transport.ActiveSince(id);

    bool ITransportRaft.TryProcess(Message message) => _node.TryProcess(message);

    bool ITransportRaft.IsIdRemoved(ulong id) => _node.IsIdRemoved(id);

    void ITransportRaft.ReportUnreachable(ulong id) => _node.ReportUnreachable(id);

    void ITransportRaft.ReportSnapshot(ulong id, SnapshotStatus status) => _node.ReportSnapshot(id, status);

    void ITransportRaft.ReportRemoved(ulong reportedBy) => _node.ReportRemoved(reportedBy);

    /// <summary>Stops the transport.</summary>
    public ValueTask DisposeAsync() => _transport.DisposeAsync();
}
