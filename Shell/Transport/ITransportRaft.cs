using Raft.Core;

namespace Raft.Shell.Transport;

/// <summary>
/// The Raft node as the transport sees it (etcd's rafthttp.Raft): where received messages go and
/// where send outcomes are reported. The transport calls these from its own tasks and, for drops,
/// synchronously from <see cref="PeerTransport.Send(Message)"/>; every method must return quickly
/// and never block (post to the runner's queue and return).
/// </summary>
internal interface ITransportRaft
{
    /// <summary>
    /// Offers a message received from a peer (etcd's Process, fed from its bounded recvc). Returns
    /// false when the runner's bounded queue is full: the transport then drops the message, as etcd
    /// does, and raft's retransmission recovers.
    /// </summary>
    bool TryProcess(Message message);

    /// <summary>Whether <paramref name="id"/> was removed from the cluster; such a member's connections are refused.</summary>
    bool IsIdRemoved(ulong id);

    /// <summary>A message to <paramref name="id"/> could not be sent (feed RawNode.ReportUnreachable).</summary>
    void ReportUnreachable(ulong id);

    /// <summary>Whether the snapshot sent to <paramref name="id"/> arrived (feed RawNode.ReportSnapshot).</summary>
    void ReportSnapshot(ulong id, SnapshotStatus status);

    /// <summary>
    /// A peer refused us because this member was removed from the cluster (etcd reports
    /// errMemberRemoved on its ErrorC and the server stops).
    /// </summary>
    void ReportRemoved(ulong reportedBy);
}
