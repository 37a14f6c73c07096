using Microsoft.Extensions.Logging;
using Raft.Shell.Transport.Tls;

namespace Raft.Shell.Transport;

/// <summary>What every part of one transport shares: its settings, identity, raft, log and metrics.</summary>
internal sealed class TransportContext(PeerTransportOptions options, ITransportRaft raft, ILogger log, TransportMetrics metrics)
{
    public PeerTransportOptions Options { get; } = options;
    public ITransportRaft Raft { get; } = raft;
    public ILogger Log { get; } = log;
    public TransportMetrics Metrics { get; } = metrics;
    public ulong MemberId { get; } = options.MemberId;
    public ulong ClusterId { get; } = options.ClusterId;

    /// <summary>This member's id as etcd prints it.</summary>
    public string LocalId { get; } = TransportLog.Id(options.MemberId);

    /// <summary>Peer TLS, when configured: every connection, both ways, is TLS.</summary>
    public TlsHandshake? Tls { get; } = PeerTls.Create(options.Tls, options.ListenPeerUrls, log);
}
