using Microsoft.Extensions.Logging;

namespace Raft.Shell.Transport;

/// <summary>
/// Every line the transport logs. The texts are etcd rafthttp's (so an operator who knows etcd's logs
/// can grep ours), with etcd's zap fields spelled out after them; member ids are hex, as etcd prints
/// types.ID.
/// </summary>
internal static partial class TransportLog
{
    public static string Id(ulong id) => id.ToString("x");

    // Peers.

    [LoggerMessage(1, LogLevel.Information, "added remote peer (local-member-id={LocalMemberId}, remote-peer-id={RemotePeerId}, remote-peer-urls={RemotePeerUrls})")]
    public static partial void AddedPeer(this ILogger log, string localMemberId, string remotePeerId, string remotePeerUrls);

    [LoggerMessage(2, LogLevel.Information, "removed remote peer (local-member-id={LocalMemberId}, removed-remote-peer-id={RemotePeerId})")]
    public static partial void RemovedPeer(this ILogger log, string localMemberId, string remotePeerId);

    [LoggerMessage(3, LogLevel.Information, "updated remote peer (local-member-id={LocalMemberId}, updated-remote-peer-id={RemotePeerId}, updated-remote-peer-urls={RemotePeerUrls})")]
    public static partial void UpdatedPeer(this ILogger log, string localMemberId, string remotePeerId, string remotePeerUrls);

    [LoggerMessage(4, LogLevel.Information, "peer became active (peer-id={PeerId})")]
    public static partial void PeerActive(this ILogger log, string peerId);

    [LoggerMessage(5, LogLevel.Warning, "peer became inactive (message send to peer failed) (peer-id={PeerId}, error={Error})")]
    public static partial void PeerInactive(this ILogger log, string peerId, string error);

    [LoggerMessage(6, LogLevel.Debug, "peer deactivated again (peer-id={PeerId}, error={Error})")]
    public static partial void PeerInactiveAgain(this ILogger log, string peerId, string error);

    // Outbound streams.

    [LoggerMessage(10, LogLevel.Information, "established TCP streaming connection with remote peer (stream-writer-type=stream Message, local-member-id={LocalMemberId}, remote-peer-id={RemotePeerId}, address={Address})")]
    public static partial void StreamEstablished(this ILogger log, string localMemberId, string remotePeerId, string address);

    [LoggerMessage(11, LogLevel.Warning, "lost TCP streaming connection with remote peer (stream-writer-type=stream Message, local-member-id={LocalMemberId}, remote-peer-id={RemotePeerId}, error={Error})")]
    public static partial void StreamLost(this ILogger log, string localMemberId, string remotePeerId, string error);

    [LoggerMessage(12, LogLevel.Warning, "dropped internal Raft message since sending buffer is full (overloaded network) (message-type={MessageType}, local-member-id={LocalMemberId}, from={From}, remote-peer-id={RemotePeerId}, remote-peer-active={RemotePeerActive})")]
    public static partial void DroppedSendBufferFull(this ILogger log, string messageType, string localMemberId, string from, string remotePeerId, bool remotePeerActive);

    [LoggerMessage(13, LogLevel.Debug, "dropped Raft message since remote peer is unreachable (message-type={MessageType}, local-member-id={LocalMemberId}, remote-peer-id={RemotePeerId})")]
    public static partial void DroppedPeerDown(this ILogger log, string messageType, string localMemberId, string remotePeerId);

    [LoggerMessage(14, LogLevel.Error, "dropped Raft message larger than the frame limit (message-type={MessageType}, remote-peer-id={RemotePeerId}, size={Size}, max-frame-size={MaxFrameSize})")]
    public static partial void DroppedTooLarge(this ILogger log, string messageType, string remotePeerId, int size, int maxFrameSize);

    [LoggerMessage(15, LogLevel.Debug, "ignored message send request; unknown remote peer target (type={MessageType}, unknown-target-peer-id={TargetPeerId})")]
    public static partial void UnknownTarget(this ILogger log, string messageType, string targetPeerId);

    [LoggerMessage(16, LogLevel.Warning, "request sent was ignored by remote peer due to cluster ID mismatch (remote-peer-id={RemotePeerId}, remote-peer-cluster-id={RemoteClusterId}, local-member-id={LocalMemberId}, local-member-cluster-id={LocalClusterId})")]
    public static partial void RefusedClusterMismatch(this ILogger log, string remotePeerId, string remoteClusterId, string localMemberId, string localClusterId);

    [LoggerMessage(17, LogLevel.Warning, "request sent was ignored by remote peer (remote-peer-id={RemotePeerId}, local-member-id={LocalMemberId}, address={Address}, error={Error})")]
    public static partial void RefusedByPeer(this ILogger log, string remotePeerId, string localMemberId, string address, string error);

    [LoggerMessage(18, LogLevel.Error, "the member has been permanently removed from the cluster (reported-by={RemotePeerId}, local-member-id={LocalMemberId})")]
    public static partial void RemovedFromCluster(this ILogger log, string remotePeerId, string localMemberId);

    // Inbound connections.

    [LoggerMessage(30, LogLevel.Information, "listening for peers (address={Address}, local-member-id={LocalMemberId}, cluster-id={ClusterId})")]
    public static partial void Listening(this ILogger log, string address, string localMemberId, string clusterId);

    [LoggerMessage(31, LogLevel.Warning, "failed to accept peer connection (address={Address}, error={Error})")]
    public static partial void AcceptFailed(this ILogger log, string address, string error);

    [LoggerMessage(56, LogLevel.Warning, "rejected peer connection: too many open connections (remote-address={RemoteAddress}, max-inbound-connections={Max})")]
    public static partial void TooManyConnections(this ILogger log, string remoteAddress, int max);

    [LoggerMessage(32, LogLevel.Warning, "rejected peer connection: not a raft peer (remote-address={RemoteAddress}, error={Error})")]
    public static partial void NotAPeer(this ILogger log, string remoteAddress, string error);

    [LoggerMessage(33, LogLevel.Warning, "request cluster ID mismatch (local-member-id={LocalMemberId}, local-member-cluster-id={LocalClusterId}, remote-peer-id={RemotePeerId}, remote-peer-cluster-id={RemoteClusterId}, remote-address={RemoteAddress})")]
    public static partial void ClusterIdMismatch(this ILogger log, string localMemberId, string localClusterId, string remotePeerId, string remoteClusterId, string remoteAddress);

    [LoggerMessage(34, LogLevel.Warning, "rejected stream from remote peer because it was removed (local-member-id={LocalMemberId}, remote-peer-id-from={RemotePeerId}, remote-address={RemoteAddress})")]
    public static partial void RejectedRemoved(this ILogger log, string localMemberId, string remotePeerId, string remoteAddress);

    [LoggerMessage(35, LogLevel.Warning, "failed to find remote peer in cluster (local-member-id={LocalMemberId}, remote-peer-id-from={RemotePeerId}, cluster-id={ClusterId}, remote-address={RemoteAddress})")]
    public static partial void UnknownSender(this ILogger log, string localMemberId, string remotePeerId, string clusterId, string remoteAddress);

    [LoggerMessage(36, LogLevel.Warning, "ignored streaming request; ID mismatch (local-member-id={LocalMemberId}, remote-peer-id-header={IntendedId}, remote-peer-id-from={RemotePeerId}, remote-address={RemoteAddress})")]
    public static partial void ReceiverMismatch(this ILogger log, string localMemberId, string intendedId, string remotePeerId, string remoteAddress);

    [LoggerMessage(37, LogLevel.Warning, "rejected peer connection (local-member-id={LocalMemberId}, remote-peer-id={RemotePeerId}, remote-address={RemoteAddress}, error={Error})")]
    public static partial void RejectedOther(this ILogger log, string localMemberId, string remotePeerId, string remoteAddress, string error);

    [LoggerMessage(38, LogLevel.Warning, "closed peer connection (local-member-id={LocalMemberId}, remote-peer-id={RemotePeerId}, remote-address={RemoteAddress}, error={Error})")]
    public static partial void ClosedBadInput(this ILogger log, string localMemberId, string remotePeerId, string remoteAddress, string error);

    [LoggerMessage(39, LogLevel.Information, "accepted TCP streaming connection from remote peer (stream-reader-type=stream Message, local-member-id={LocalMemberId}, remote-peer-id={RemotePeerId}, remote-address={RemoteAddress})")]
    public static partial void InboundEstablished(this ILogger log, string localMemberId, string remotePeerId, string remoteAddress);

    [LoggerMessage(40, LogLevel.Information, "closed TCP streaming connection from remote peer (stream-reader-type=stream Message, local-member-id={LocalMemberId}, remote-peer-id={RemotePeerId}, reason={Reason})")]
    public static partial void InboundClosed(this ILogger log, string localMemberId, string remotePeerId, string reason);

    [LoggerMessage(41, LogLevel.Warning, "dropped internal Raft message since receiving buffer is full (overloaded network) (message-type={MessageType}, local-member-id={LocalMemberId}, from={From})")]
    public static partial void DroppedReceiveBufferFull(this ILogger log, string messageType, string localMemberId, string from);

    // Snapshots.

    [LoggerMessage(50, LogLevel.Information, "sending database snapshot (snapshot-index={Index}, remote-peer-id={RemotePeerId}, bytes={Bytes})")]
    public static partial void SnapshotSending(this ILogger log, ulong index, string remotePeerId, long bytes);

    [LoggerMessage(51, LogLevel.Information, "sent database snapshot (snapshot-index={Index}, remote-peer-id={RemotePeerId}, bytes={Bytes})")]
    public static partial void SnapshotSent(this ILogger log, ulong index, string remotePeerId, long bytes);

    [LoggerMessage(52, LogLevel.Warning, "failed to send database snapshot (snapshot-index={Index}, remote-peer-id={RemotePeerId}, bytes={Bytes}, error={Error})")]
    public static partial void SnapshotSendFailed(this ILogger log, ulong index, string remotePeerId, long bytes, string error);

    [LoggerMessage(53, LogLevel.Information, "receiving database snapshot (local-member-id={LocalMemberId}, remote-snapshot-sender-id={RemotePeerId}, incoming-snapshot-index={Index}, incoming-snapshot-size-bytes={Bytes})")]
    public static partial void SnapshotReceiving(this ILogger log, string localMemberId, string remotePeerId, ulong index, long bytes);

    [LoggerMessage(54, LogLevel.Information, "received database snapshot (local-member-id={LocalMemberId}, remote-snapshot-sender-id={RemotePeerId}, incoming-snapshot-index={Index}, incoming-snapshot-size-bytes={Bytes}, download-took={Took})")]
    public static partial void SnapshotReceived(this ILogger log, string localMemberId, string remotePeerId, ulong index, long bytes, TimeSpan took);

    [LoggerMessage(55, LogLevel.Warning, "failed to receive database snapshot (local-member-id={LocalMemberId}, remote-snapshot-sender-id={RemotePeerId}, remote-address={RemoteAddress}, error={Error})")]
    public static partial void SnapshotReceiveFailed(this ILogger log, string localMemberId, string remotePeerId, string remoteAddress, string error);

    // TLS.

    [LoggerMessage(60, LogLevel.Warning, "rejected connection (remote-addr={RemoteAddress}, local-member-id={LocalMemberId}, error={Error})")]
    public static partial void TlsRejected(this ILogger log, string remoteAddress, string localMemberId, string error);

    // Debug: the same error reaches the peer's status, which warns once when the peer becomes inactive.
    [LoggerMessage(61, LogLevel.Debug, "failed to dial remote peer over TLS (local-member-id={LocalMemberId}, remote-peer-id={RemotePeerId}, address={Address}, error={Error})")]
    public static partial void TlsDialFailed(this ILogger log, string localMemberId, string remotePeerId, string address, string error);

    [LoggerMessage(62, LogLevel.Warning, "cannot reload peer TLS files; keeping the previous ones (error={Error})")]
    public static partial void TlsReloadFailed(this ILogger log, string error);
}
