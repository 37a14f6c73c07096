using System.Buffers;
using System.Buffers.Binary;
using Google.Protobuf;
using Raft.Interop.Wire;
using Core = Raft.Core;
using Proto = Raft.Interop.Raftpb;

namespace Raft.Shell.Transport;

/// <summary>How a snapshot connection ends: the receiver's one-byte verdict.</summary>
internal enum SnapshotAck : byte
{
    /// <summary>The whole payload arrived and the message was handed to raft.</summary>
    Delivered = 0,

    /// <summary>The message or payload was malformed, too large, or not a MsgSnap.</summary>
    Refused = 1,

    /// <summary>Raft's receive buffer was full; the snapshot was dropped.</summary>
    Busy = 2,
}

/// <summary>
/// The bytes after a handshake. A message stream is a sequence of frames: a 4-byte big-endian
/// length, then that many bytes of a marshalled raftpb.Message (etcd's encoding). A zero length is a
/// link heartbeat (a marshalled Message is never empty, as etcd writes every scalar field), sent to
/// keep an idle connection's read timeout from firing. A snapshot connection carries one frame (the
/// MsgSnap with its Snapshot.Data left out), an 8-byte big-endian payload length, the payload (the
/// state machine's snapshot, which becomes Snapshot.Data on arrival), and the receiver's one-byte
/// <see cref="SnapshotAck"/> back. A persistent state machine's snapshot keeps its Snapshot.Data
/// (the membership) in the frame, and its payload length is <see cref="CheckpointChunks.StreamedMarker"/>,
/// followed by the checkpoint in chunks.
/// </summary>
internal static class MessageFrames
{
    public const int LengthPrefixSize = 4;
    public const int PayloadLengthSize = 8;

    public enum ReadStatus
    {
        /// <summary>A whole frame (possibly an empty link heartbeat) was read.</summary>
        Frame,

        /// <summary>The buffer holds only part of a frame.</summary>
        NeedMore,

        /// <summary>The length prefix exceeds the limit; the stream cannot be trusted any further.</summary>
        TooLarge,
    }

    /// <summary>
    /// Appends one frame holding <paramref name="message"/>, whose marshalled size the caller has
    /// computed (and checked against the limit) as <paramref name="size"/>.
    /// </summary>
    public static void Write(IBufferWriter<byte> writer, Proto.Message message, int size)
    {
        BinaryPrimitives.WriteUInt32BigEndian(writer.GetSpan(LengthPrefixSize), (uint)size);
        writer.Advance(LengthPrefixSize);
        message.WriteTo(writer);
    }

    /// <summary>Appends a link heartbeat (an empty frame).</summary>
    public static void WriteLinkHeartbeat(IBufferWriter<byte> writer)
    {
        BinaryPrimitives.WriteUInt32BigEndian(writer.GetSpan(LengthPrefixSize), 0);
        writer.Advance(LengthPrefixSize);
    }

    /// <summary>
    /// Takes one frame off the front of <paramref name="buffer"/>: on <see cref="ReadStatus.Frame"/>
    /// <paramref name="payload"/> is its body and the buffer starts after it; otherwise the buffer is
    /// unchanged. <paramref name="length"/> is the announced length whenever the prefix was complete.
    /// </summary>
    public static ReadStatus TryRead(ref ReadOnlySequence<byte> buffer, int maxFrameSize, out ReadOnlySequence<byte> payload, out uint length)
    {
        payload = default;
        length = 0;
        if (buffer.Length < LengthPrefixSize) return ReadStatus.NeedMore;
        Span<byte> prefix = stackalloc byte[LengthPrefixSize];
        buffer.Slice(0, LengthPrefixSize).CopyTo(prefix);
        length = BinaryPrimitives.ReadUInt32BigEndian(prefix);
        if (length > (uint)maxFrameSize) return ReadStatus.TooLarge;
        if (buffer.Length < LengthPrefixSize + length) return ReadStatus.NeedMore;
        payload = buffer.Slice(LengthPrefixSize, length);
        buffer = buffer.Slice(payload.End);
        return ReadStatus.Frame;
    }

    /// <summary>Decodes a frame's body; the result shares no memory with it.</summary>
    /// <exception cref="WireFormatException">The bytes are not a raftpb.Message etcd could have written.</exception>
    public static Core.Message Decode(ReadOnlySequence<byte> payload)
    {
        Proto.Message p;
        var bytes = payload.IsSingleSegment ? payload.FirstSpan : payload.ToArray();
        if (ProtobufInput.Check(Proto.Message.Descriptor, bytes) is { } bad)
            throw new WireFormatException($"malformed Message: {bad}");
        try
        {
            p = Proto.Message.Parser.ParseFrom(payload);
        }
        catch (Exception ex) when (ProtobufInput.IsMalformed(ex))
        {
            throw new WireFormatException($"malformed Message: {ex.Message}", ex);
        }
        return RaftpbConvert.ToCore(p);
    }
}
