using Google.Protobuf;
using Raft.Kv.Codec;

namespace Raft.Kv.Auth;

/// <summary>
/// The auth state in the store's snapshot: field 4 (<c>auth</c>) of raftkv.KvSnapshot, appended after
/// the pairs <see cref="KvSnapshotCodec"/> wrote (a protobuf message may be extended by appending a
/// field), so the pair codec stays as it is and a snapshot without auth reads as before.
/// </summary>
public static class AuthSnapshot
{
    private static readonly uint AuthTag = WireFormat.MakeTag(Proto.KvSnapshot.AuthFieldNumber, WireFormat.WireType.LengthDelimited);

    /// <summary><paramref name="snapshot"/> with the auth state appended (unchanged when it is empty).</summary>
    public static byte[] Append(byte[] snapshot, byte[] auth)
    {
        if (auth.Length == 0) return snapshot;
        var field = ByteString.CopyFrom(auth);
        var tail = new byte[CodedOutputStream.ComputeTagSize(Proto.KvSnapshot.AuthFieldNumber) + CodedOutputStream.ComputeBytesSize(field)];
        var output = new CodedOutputStream(tail);
        output.WriteTag(AuthTag);
        output.WriteBytes(field);
        output.Flush();
        // The pairs first, unchanged, then the auth field.
        var bytes = new byte[snapshot.Length + tail.Length];
        snapshot.CopyTo(bytes, 0);
        tail.CopyTo(bytes, snapshot.Length);
        return bytes;
    }

    /// <summary>The auth state in a snapshot (empty when it has none).</summary>
    /// <exception cref="InvalidDataException">The snapshot is malformed.</exception>
    public static ReadOnlyMemory<byte> Extract(ReadOnlyMemory<byte> snapshot)
    {
        var segment = KvCommandCodec.Segment(snapshot);
        var input = new CodedInputStream(segment.Array!, segment.Offset, segment.Count);
        ReadOnlyMemory<byte> auth = ReadOnlyMemory<byte>.Empty;
        try
        {
            uint tag;
            while ((tag = input.ReadTag()) != 0)
            {
                if (tag == AuthTag) auth = input.ReadBytes().Memory;
                else input.SkipLastField();
            }
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new InvalidDataException($"store snapshot: {ex.Message}", ex);
        }
        return auth;
    }
}
