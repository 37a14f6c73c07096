using Google.Protobuf;
using Core = Raft.Core;
using Proto = Raft.Interop.Raftpb;

namespace Raft.Interop.Wire;

/// <summary>
/// Core values to and from etcd's bytes (gogoproto's encoding: fields in number order,
/// non-nullable scalars always present, empty bytes absent). See <see cref="RaftpbConvert"/>.
/// </summary>
public static class RaftpbMarshal
{
    /// <summary>etcd's Entry.Marshal.</summary>
    public static byte[] Marshal(Core.Entry e) => RaftpbConvert.ToProto(e).ToByteArray();

    /// <summary>etcd's HardState.Marshal.</summary>
    public static byte[] Marshal(Core.HardState hs) => RaftpbConvert.ToProto(hs).ToByteArray();

    /// <summary>etcd's ConfState.Marshal.</summary>
    public static byte[] Marshal(Core.ConfState cs) => RaftpbConvert.ToProto(cs).ToByteArray();

    /// <summary>etcd's Snapshot.Marshal.</summary>
    public static byte[] Marshal(Core.Snapshot s) => RaftpbConvert.ToProto(s).ToByteArray();

    /// <summary>etcd's Message.Marshal.</summary>
    public static byte[] Marshal(Core.Message m) => RaftpbConvert.ToProto(m).ToByteArray();

    /// <summary>etcd's ConfChange.Marshal.</summary>
    public static byte[] Marshal(Core.ConfChange cc) => RaftpbConvert.ToProto(cc).ToByteArray();

    /// <summary>etcd's ConfChangeV2.Marshal.</summary>
    public static byte[] Marshal(Core.ConfChangeV2 cc) => RaftpbConvert.ToProto(cc).ToByteArray();

    /// <summary>Decodes an Entry.</summary>
    /// <exception cref="WireFormatException">The bytes are not an Entry.</exception>
    public static Core.Entry UnmarshalEntry(ReadOnlySpan<byte> data) =>
        EntryReader.TryRead(data, out var entry) ? entry : RaftpbConvert.ToCore(Parse(Proto.Entry.Parser, data, "Entry"));

    /// <summary>Decodes a HardState.</summary>
    /// <exception cref="WireFormatException">The bytes are not a HardState.</exception>
    public static Core.HardState UnmarshalHardState(ReadOnlySpan<byte> data) =>
        RaftpbConvert.ToCore(Parse(Proto.HardState.Parser, data, "HardState"));

    /// <summary>Decodes a ConfState.</summary>
    /// <exception cref="WireFormatException">The bytes are not a ConfState.</exception>
    public static Core.ConfState UnmarshalConfState(ReadOnlySpan<byte> data) =>
        RaftpbConvert.ToCore(Parse(Proto.ConfState.Parser, data, "ConfState"));

    /// <summary>Decodes a Snapshot.</summary>
    /// <exception cref="WireFormatException">The bytes are not a Snapshot.</exception>
    public static Core.Snapshot UnmarshalSnapshot(ReadOnlySpan<byte> data) =>
        RaftpbConvert.ToCore(Parse(Proto.Snapshot.Parser, data, "Snapshot"));

    /// <summary>Decodes a Message.</summary>
    /// <exception cref="WireFormatException">The bytes are not a Message.</exception>
    public static Core.Message UnmarshalMessage(ReadOnlySpan<byte> data) =>
        RaftpbConvert.ToCore(Parse(Proto.Message.Parser, data, "Message"));

    /// <summary>Decodes a ConfChange.</summary>
    /// <exception cref="WireFormatException">The bytes are not a ConfChange.</exception>
    public static Core.ConfChange UnmarshalConfChange(ReadOnlySpan<byte> data) =>
        RaftpbConvert.ToCore(Parse(Proto.ConfChange.Parser, data, "ConfChange"));

    /// <summary>Decodes a ConfChangeV2.</summary>
    /// <exception cref="WireFormatException">The bytes are not a ConfChangeV2.</exception>
    public static Core.ConfChangeV2 UnmarshalConfChangeV2(ReadOnlySpan<byte> data) =>
        RaftpbConvert.ToCore(Parse(Proto.ConfChangeV2.Parser, data, "ConfChangeV2"));

    /// <summary>Parses one protobuf message, turning the parser's error into a <see cref="WireFormatException"/>.</summary>
    public static T Parse<T>(MessageParser<T> parser, ReadOnlySpan<byte> data, string what) where T : IMessage<T>, new()
    {
        if (ProtobufInput.Check(Descriptors<T>.Message, data) is { } bad)
            throw new WireFormatException($"malformed {what}: {bad}");
        try
        {
            return parser.ParseFrom(data);
        }
        catch (Exception ex) when (ProtobufInput.IsMalformed(ex))
        {
            throw new WireFormatException($"malformed {what}: {ex.Message}", ex);
        }
    }

    private static class Descriptors<T> where T : IMessage<T>, new()
    {
        public static readonly Google.Protobuf.Reflection.MessageDescriptor Message = new T().Descriptor;
    }
}
