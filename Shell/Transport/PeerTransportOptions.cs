using Raft.Shell.Transport.Tls;

namespace Raft.Shell.Transport;

/// <summary>
/// Settings of a <see cref="PeerTransport"/>. The defaults follow etcd's rafthttp where it has one
/// (4096-message buffers, 5 s connection read and write timeouts, a link heartbeat every third of
/// the read timeout, 1 s dial timeout).
/// </summary>
public sealed class PeerTransportOptions
{
    /// <summary>This member's id. Required (non-zero).</summary>
    public ulong MemberId { get; set; }

    /// <summary>The cluster's id; a peer that announces another one is refused. Required (non-zero).</summary>
    public ulong ClusterId { get; set; }

    /// <summary>
    /// Where to accept peer connections (etcd's <c>--listen-peer-urls</c>): <c>http://host:port</c> or
    /// <c>tcp://host:port</c>, host an IP literal or <c>localhost</c>; port 0 picks a free port (see
    /// <see cref="PeerTransport.ListenEndpoints"/>). Empty: accept nothing (a sender only).
    /// </summary>
    public IList<string> ListenPeerUrls { get; set; } = new List<string>();

    /// <summary>
    /// Peer TLS (etcd's <c>--peer-*</c> TLS flags); null or not enabled: plain TCP. When enabled, every
    /// listen URL must be <c>https://</c> and every connection to a peer, both ways, is TLS.
    /// </summary>
    public TlsOptions? Tls { get; set; }

    /// <summary>Messages queued per peer before <see cref="PeerTransport.Send(Raft.Core.Message)"/> drops (etcd's streamBufSize).</summary>
    public int SendQueueCapacity { get; set; } = 4096;

    /// <summary>
    /// Largest raftpb.Message frame accepted or sent on a message stream, in bytes. A little above the
    /// node's MaxSizePerMsg plus one maximal entry; a larger frame closes the connection.
    /// </summary>
    public int MaxFrameSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// Where a persistent state machine's checkpoint received with a snapshot is written (the
    /// member's snap directory); null refuses streamed checkpoints.
    /// </summary>
    public string? CheckpointDataDir { get; set; }

    /// <summary>Largest streamed checkpoint accepted, in bytes (a store on disk may exceed memory).</summary>
    public long MaxCheckpointSize { get; set; } = 64L * 1024 * 1024 * 1024;

    /// <summary>Largest state-machine snapshot payload accepted on a snapshot connection, in bytes.</summary>
    public long MaxSnapshotSize { get; set; } = 1024L * 1024 * 1024;

    /// <summary>
    /// Inbound connections held open at once, across the peer listeners; one more is closed on accept
    /// and logged. A member has a few per peer (messages, snapshots, membership queries), so the
    /// default leaves room for large clusters while a client opening sockets in a loop cannot
    /// exhaust the process's descriptors or memory.
    /// </summary>
    public int MaxInboundConnections { get; set; } = 1024;

    /// <summary>How long a dial may take before the attempt counts as failed.</summary>
    public TimeSpan DialTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long either side waits for the other's handshake.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// An inbound connection silent for this long is closed (etcd's ConnReadTimeout); senders keep
    /// idle connections alive with link heartbeats every <see cref="LinkHeartbeatInterval"/>.
    /// </summary>
    public TimeSpan ReadTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A write (or a snapshot's acknowledgement) that takes longer closes the connection (etcd's ConnWriteTimeout).</summary>
    public TimeSpan WriteTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a sender writes an empty keep-alive frame; null: a third of <see cref="ReadTimeout"/>, as etcd.</summary>
    public TimeSpan? LinkHeartbeatInterval { get; set; }

    /// <summary>First wait before redialling a peer that could not be reached; doubles per failure.</summary>
    public TimeSpan ReconnectInitialDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Cap on the wait between redials. etcd's stream reader redials a peer every 100 ms without
    /// backing off; with a cap of 1 s a lagging follower that came back waited up to a second
    /// (0.4 s in a measured catch-up) for the leader's next dial before its snapshot was sent.
    /// </summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    internal TimeSpan EffectiveLinkHeartbeatInterval => LinkHeartbeatInterval ?? ReadTimeout / 3;

    /// <summary>Checks the settings; throws <see cref="ArgumentException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (MemberId == 0) throw new ArgumentException("MemberId must be non-zero", nameof(MemberId));
        if (ClusterId == 0) throw new ArgumentException("ClusterId must be non-zero", nameof(ClusterId));
        if (SendQueueCapacity < 1) throw new ArgumentException("SendQueueCapacity must be at least 1", nameof(SendQueueCapacity));
        if (MaxFrameSize < 64) throw new ArgumentException("MaxFrameSize must be at least 64 bytes", nameof(MaxFrameSize));
        if (MaxSnapshotSize < 0 || MaxSnapshotSize > Array.MaxLength)
            throw new ArgumentException($"MaxSnapshotSize must be between 0 and {Array.MaxLength}", nameof(MaxSnapshotSize));
        Positive(DialTimeout, nameof(DialTimeout));
        if (MaxInboundConnections < 1) throw new ArgumentException("MaxInboundConnections must be at least 1", nameof(MaxInboundConnections));
        Positive(HandshakeTimeout, nameof(HandshakeTimeout));
        Positive(ReadTimeout, nameof(ReadTimeout));
        Positive(WriteTimeout, nameof(WriteTimeout));
        Positive(EffectiveLinkHeartbeatInterval, nameof(LinkHeartbeatInterval));
        Positive(ReconnectInitialDelay, nameof(ReconnectInitialDelay));
        if (ReconnectMaxDelay < ReconnectInitialDelay)
            throw new ArgumentException("ReconnectMaxDelay must not be below ReconnectInitialDelay", nameof(ReconnectMaxDelay));
        foreach (var url in ListenPeerUrls)
        {
            PeerUrl.Parse(url);
            var tlsUrl = PeerTls.IsTlsUrl(url);
            if (tlsUrl && Tls is not { IsEnabled: true })
                throw new ArgumentException($"listen peer URL {url} is https but no peer certificate is given (peer cert and key files, or peer auto TLS)", nameof(ListenPeerUrls));
            if (!tlsUrl && Tls is { IsEnabled: true })
                throw new ArgumentException($"listen peer URL {url} is not https while peer TLS is configured; use https://", nameof(ListenPeerUrls));
        }
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero) throw new ArgumentException($"{name} must be positive", name);
    }
}
