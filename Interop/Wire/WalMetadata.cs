using Google.Protobuf;

namespace Raft.Interop.Wire;

/// <summary>
/// What etcd records at the head of every WAL segment (etcdserverpb.Metadata): the member's id
/// and its cluster's id. Both are always written, even when zero.
/// </summary>
/// <param name="NodeId">The member id.</param>
/// <param name="ClusterId">The cluster id.</param>
public sealed record WalMetadata(ulong NodeId, ulong ClusterId)
{
    /// <summary>The metadata record's payload bytes.</summary>
    public byte[] Marshal() => new Etcdserverpb.Metadata { NodeID = NodeId, ClusterID = ClusterId }.ToByteArray();

    /// <summary>Decodes a metadata record's payload.</summary>
    /// <exception cref="WireFormatException">The bytes are not etcd's Metadata.</exception>
    public static WalMetadata Unmarshal(ReadOnlySpan<byte> data)
    {
        var m = RaftpbMarshal.Parse(Etcdserverpb.Metadata.Parser, data, "Metadata");
        return new WalMetadata(m.NodeID, m.ClusterID);
    }
}
