using System.Buffers.Binary;

namespace Raft.Shell.Transport;

/// <summary>What a connection carries after its handshake.</summary>
internal enum ConnectionKind : byte
{
    /// <summary>A long-lived stream of raftpb.Message frames (etcd's stream Message).</summary>
    Messages = 1,

    /// <summary>One MsgSnap and its state-machine payload, then an acknowledgement (etcd's snapshot POST).</summary>
    Snapshot = 2,

    /// <summary>
    /// A request for the listener's view of the membership, answered and closed (etcd's GET
    /// /members on the peer port, which a member joining a running cluster asks before it has an id).
    /// </summary>
    Members = 3,
}

/// <summary>The listener's answer to a hello; anything but <see cref="Accepted"/> is followed by a close.</summary>
internal enum HandshakeCode : byte
{
    /// <summary>The connection is accepted.</summary>
    Accepted = 0,

    /// <summary>The sender speaks a protocol version the listener does not (etcd's "incompatible version").</summary>
    IncompatibleVersion = 1,

    /// <summary>The sender belongs to another cluster (etcd's "cluster ID mismatch").</summary>
    ClusterIdMismatch = 2,

    /// <summary>The sender was removed from the cluster (etcd's 410 "removed member").</summary>
    MemberRemoved = 3,

    /// <summary>The sender is not a member the listener knows (etcd's 404 "error sender not found").</summary>
    UnknownSender = 4,

    /// <summary>The listener is not the member the sender meant to reach (etcd's "to field mismatch").</summary>
    ReceiverMismatch = 5,

    /// <summary>The connection kind is not one the listener knows.</summary>
    UnsupportedKind = 6,
}

/// <summary>The dialer's hello: who it is, whom it wants, and what it will send.</summary>
internal readonly record struct Hello(ushort Version, ConnectionKind Kind, ulong ClusterId, ulong From, ulong To);

/// <summary>The listener's reply: the verdict, plus its own cluster and member id for the dialer's log.</summary>
internal readonly record struct HelloReply(ushort Version, HandshakeCode Code, ulong ClusterId, ulong MemberId);

/// <summary>
/// The fixed-size handshake that opens every peer connection. The dialer writes a 32-byte hello:
/// magic "RAFT", protocol version (uint16), connection kind (byte), a zero byte, then cluster id,
/// sender member id and intended receiver member id (uint64 each). The listener answers with 24 bytes:
/// magic, version, <see cref="HandshakeCode"/>, a zero byte, its cluster id and its member id.
/// All integers are big-endian. Bytes that do not start with the magic are not a peer: the listener
/// closes without answering.
/// </summary>
internal static class Handshake
{
    public const ushort ProtocolVersion = 1;
    public const int HelloSize = 32;
    public const int ReplySize = 24;

    // "RAFT"
    private const uint Magic = 0x5241_4654;

    /// <summary>Whether the first four bytes are the magic: the cheapest test that a peer is speaking.</summary>
    public static bool HasMagic(ReadOnlySpan<byte> src) => BinaryPrimitives.ReadUInt32BigEndian(src) == Magic;

    public static void WriteHello(Span<byte> dest, in Hello h)
    {
        BinaryPrimitives.WriteUInt32BigEndian(dest, Magic);
        BinaryPrimitives.WriteUInt16BigEndian(dest[4..], h.Version);
        dest[6] = (byte)h.Kind;
        dest[7] = 0;
        BinaryPrimitives.WriteUInt64BigEndian(dest[8..], h.ClusterId);
        BinaryPrimitives.WriteUInt64BigEndian(dest[16..], h.From);
        BinaryPrimitives.WriteUInt64BigEndian(dest[24..], h.To);
    }

    /// <summary>The hello in <paramref name="src"/>, or null with the reason it is not one.</summary>
    public static Hello? ReadHello(ReadOnlySpan<byte> src, out string? error)
    {
        if (BinaryPrimitives.ReadUInt32BigEndian(src) != Magic)
        {
            error = $"bad magic 0x{Convert.ToHexString(src[..4])}";
            return null;
        }
        if (src[7] != 0)
        {
            error = $"bad reserved byte 0x{src[7]:x2}";
            return null;
        }
        error = null;
        return new Hello(
            BinaryPrimitives.ReadUInt16BigEndian(src[4..]),
            (ConnectionKind)src[6],
            BinaryPrimitives.ReadUInt64BigEndian(src[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(src[16..]),
            BinaryPrimitives.ReadUInt64BigEndian(src[24..]));
    }

    public static void WriteReply(Span<byte> dest, in HelloReply r)
    {
        BinaryPrimitives.WriteUInt32BigEndian(dest, Magic);
        BinaryPrimitives.WriteUInt16BigEndian(dest[4..], r.Version);
        dest[6] = (byte)r.Code;
        dest[7] = 0;
        BinaryPrimitives.WriteUInt64BigEndian(dest[8..], r.ClusterId);
        BinaryPrimitives.WriteUInt64BigEndian(dest[16..], r.MemberId);
    }

    /// <summary>The reply in <paramref name="src"/>, or null with the reason it is not one.</summary>
    public static HelloReply? ReadReply(ReadOnlySpan<byte> src, out string? error)
    {
        if (BinaryPrimitives.ReadUInt32BigEndian(src) != Magic || src[7] != 0)
        {
            error = $"the remote end is not a raft peer (reply starts 0x{Convert.ToHexString(src[..8])})";
            return null;
        }
        error = null;
        return new HelloReply(
            BinaryPrimitives.ReadUInt16BigEndian(src[4..]),
            (HandshakeCode)src[6],
            BinaryPrimitives.ReadUInt64BigEndian(src[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(src[16..]));
    }

    /// <summary>etcd's wording for each refusal, used in both sides' logs.</summary>
    public static string Describe(HandshakeCode code) => code switch
    {
        HandshakeCode.Accepted => "accepted",
        HandshakeCode.IncompatibleVersion => "incompatible version",
        HandshakeCode.ClusterIdMismatch => "cluster ID mismatch",
        HandshakeCode.MemberRemoved => "the member has been permanently removed from the cluster",
        HandshakeCode.UnknownSender => "error sender not found",
        HandshakeCode.ReceiverMismatch => "to field mismatch",
        HandshakeCode.UnsupportedKind => "unsupported stream type",
        _ => $"unknown handshake code {(byte)code}",
    };
}
