using System.Buffers.Binary;
using Raft.Shell.Node.Membership;

namespace Raft.Shell.Node;

/// <summary>
/// What a raft snapshot's Data holds here: the applied membership (etcd keeps it in the v2 store
/// that its snapshots carry) and the host state machine's own snapshot. Layout: the magic
/// <c>RSN1</c>, a 4-byte little-endian length, that many bytes of membership JSON, then the state
/// machine's bytes to the end.
/// </summary>
internal static class SnapshotEnvelope
{
    private static ReadOnlySpan<byte> Magic => "RSN1"u8;

    /// <summary>Packs the membership and the state machine's snapshot.</summary>
    public static byte[] Pack(ClusterView cluster, ReadOnlySpan<byte> stateMachine)
    {
        var membership = MembershipJson.Write(cluster);
        // Every byte is written below, and the state can be most of the process's memory: not zeroed first.
        var data = GC.AllocateUninitializedArray<byte>(Magic.Length + 4 + membership.Length + stateMachine.Length);
        Magic.CopyTo(data);
        BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(Magic.Length), membership.Length);
        membership.CopyTo(data.AsSpan(Magic.Length + 4));
        stateMachine.CopyTo(data.AsSpan(Magic.Length + 4 + membership.Length));
        return data;
    }

    /// <summary>
    /// Unpacks a snapshot's data; the state machine part is a slice of <paramref name="data"/>.
    /// A malformed envelope is corruption and throws <see cref="FormatException"/>.
    /// </summary>
    public static (ClusterView Cluster, ReadOnlyMemory<byte> StateMachine) Unpack(ReadOnlyMemory<byte> data)
    {
        var span = data.Span;
        if (span.Length < Magic.Length + 4 || !span[..Magic.Length].SequenceEqual(Magic))
            throw new FormatException("snapshot data does not start with the RSN1 envelope");
        var len = BinaryPrimitives.ReadInt32LittleEndian(span[Magic.Length..]);
        if (len < 0 || len > span.Length - Magic.Length - 4)
            throw new FormatException($"snapshot envelope: membership length {len} exceeds the data");
        var cluster = MembershipJson.Read(span.Slice(Magic.Length + 4, len));
        return (cluster, data[(Magic.Length + 4 + len)..]);
    }
}
