using Raft.Core;
using Raft.Shell.Node.Membership;

// Extension points of the node for advanced hosts and tests: the planner, the peer transport and
// how a joining member learns the cluster. A host that only runs a node needs none of them.
namespace Raft.Shell.Node.Advanced;

/// <summary>Turns a Ready into its plan; the shell runs the plan's effects in order and decides nothing.</summary>
public delegate Plan PlannerFunction(PlanInput input, PlannerState state);

/// <summary>What a transport is built from: who this member is and where its messages go.</summary>
/// <param name="MemberId">This member.</param>
/// <param name="ClusterId">Its cluster.</param>
/// <param name="ListenPeerUrls">Where to listen for peers.</param>
/// <param name="Node">The node that receives messages and reports.</param>
public sealed record PeerTransportContext(ulong MemberId, ulong ClusterId, IReadOnlyList<string> ListenPeerUrls, RaftNode Node);

/// <summary>Builds the peer transport once the member's identity is known.</summary>
public delegate IPeerTransport PeerTransportFactory(PeerTransportContext context);

/// <summary>The membership of a running cluster as one of its members reports it (for joining).</summary>
/// <param name="ClusterId">The cluster id.</param>
/// <param name="Members">Its members.</param>
public sealed record RemoteCluster(ulong ClusterId, IReadOnlyList<ClusterMember> Members);

/// <summary>Asks the members at these peer URLs for their cluster's membership (etcd's GetClusterFromRemotePeers).</summary>
public delegate Task<RemoteCluster> ClusterFetcher(IReadOnlyList<string> peerUrls, CancellationToken cancellationToken);

/// <summary>
/// What the node needs from the peer transport (etcd's rafthttp.Transporter): sending never blocks
/// (a full queue drops and reports the peer unreachable); the peer set follows the applied
/// membership.
/// </summary>
public interface IPeerTransport
{
    /// <summary>Queues messages to their peers; never blocks, may drop.</summary>
    void Send(IReadOnlyList<Message> messages);

    /// <summary>
    /// Sends a MsgSnap, whose snapshot carries the state machine's data, on its own connection; the
    /// outcome comes back through the node's ReportSnapshot.
    /// </summary>
    void SendSnapshot(Message message);

    /// <summary>
    /// Sends a MsgSnap of a persistent state machine: the snapshot's data holds the membership
    /// only, and <paramref name="checkpoint"/> streams after it on the same connection. The
    /// receiver writes the checkpoint to its data directory (fsynced) before its raft gets the
    /// message. The transport disposes the checkpoint once sent or failed; the outcome comes back
    /// through the node's ReportSnapshot. A transport without streamed checkpoints throws
    /// <see cref="NotSupportedException"/>.
    /// </summary>
    void SendSnapshot(Message message, Raft.Interop.IStateCheckpoint checkpoint)
    {
        checkpoint.Dispose();
        throw new NotSupportedException($"{GetType().Name} cannot stream a state machine's checkpoint");
    }

    /// <summary>Starts talking to a member (idempotent).</summary>
    void AddPeer(ulong id, IReadOnlyList<string> peerUrls);

    /// <summary>Stops talking to a member.</summary>
    void RemovePeer(ulong id);

    /// <summary>Changes a member's addresses.</summary>
    void UpdatePeer(ulong id, IReadOnlyList<string> peerUrls);

    /// <summary>Forgets every peer (before re-adding those of a restored snapshot).</summary>
    void RemoveAllPeers();

    /// <summary>
    /// Since when the connection to <paramref name="id"/> has been up, or null when it is down
    /// (etcd's ActiveSince, used by the strict reconfiguration checks).
    /// </summary>
    DateTimeOffset? ActiveSince(ulong id);
}

/// <summary>The transport of a member alone in its cluster: there is nobody to talk to.</summary>
public sealed class NoPeerTransport : IPeerTransport
{
    /// <summary>The single instance.</summary>
    public static NoPeerTransport Instance { get; } = new();

    private NoPeerTransport() { }

    /// <inheritdoc/>
    public void Send(IReadOnlyList<Message> messages) { }
    /// <inheritdoc/>
    public void SendSnapshot(Message message) { }
    /// <inheritdoc/>
    public void SendSnapshot(Message message, Raft.Interop.IStateCheckpoint checkpoint) => checkpoint.Dispose();
    /// <inheritdoc/>
    public void AddPeer(ulong id, IReadOnlyList<string> peerUrls) { }
    /// <inheritdoc/>
    public void RemovePeer(ulong id) { }
    /// <inheritdoc/>
    public void UpdatePeer(ulong id, IReadOnlyList<string> peerUrls) { }
    /// <inheritdoc/>
    public void RemoveAllPeers() { }
    /// <inheritdoc/>
    public DateTimeOffset? ActiveSince(ulong id) => null;
}
