using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.Shell.Transport;

using Raft.Shell.Node.Advanced;

namespace Raft.Shell.Node;

/// <summary>The TCP <see cref="PeerTransport"/> as the node's transport.</summary>
internal static class TcpPeerTransport
{
    /// <summary>
    /// A factory for <see cref="RaftNodeDependencies.Transport"/>: builds the transport for the
    /// member and binds its listen URLs when the node starts (a port in use fails the start with a <see cref="NodeStartException"/> naming the URLs).
    /// </summary>
    public static PeerTransportFactory Factory(ILoggerFactory? loggers = null, IMeterFactory? meters = null, Action<PeerTransportOptions>? configure = null) =>
        context =>
        {
            var options = new PeerTransportOptions
            {
                MemberId = context.MemberId,
                ClusterId = context.ClusterId,
                ListenPeerUrls = context.ListenPeerUrls.ToList(),
                CheckpointDataDir = context.Node.Options.EffectiveDataDir,
            };
            configure?.Invoke(options);
            var transport = new PeerTransport(options, new NodeSide(context.Node), loggers?.CreateLogger<PeerTransport>(), meters);
            try
            {
                transport.StartAsync().GetAwaiter().GetResult();
            }
            catch (System.Net.Sockets.SocketException ex)
            {
                transport.DisposeAsync().AsTask().GetAwaiter().GetResult();
                throw new NodeStartException($"cannot listen for peers on {string.Join(", ", options.ListenPeerUrls)}: {ex.Message}", ex);
            }
            return transport;
        };

    /// <summary>Received messages and send outcomes go to the node.</summary>
    private sealed class NodeSide(RaftNode node) : ITransportRaft, IMembershipSource
    {
        public bool TryProcess(Message message) => node.TryProcess(message);
        public bool IsIdRemoved(ulong id) => node.IsIdRemoved(id);
        public void ReportUnreachable(ulong id) => node.ReportUnreachable(id);
        public void ReportSnapshot(ulong id, SnapshotStatus status) => node.ReportSnapshot(id, status);
        public void ReportRemoved(ulong reportedBy) => node.ReportRemoved(reportedBy);
        public byte[] MembershipJson() => Membership.MembershipJson.Write(node.Cluster);
    }
}
