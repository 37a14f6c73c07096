using System.Runtime.InteropServices;
using Google.Protobuf;
using Raft.Interop.Wire;
using Raft.Kv.Mvcc;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Codec;

/// <summary>
/// Encodes the store's commands (the Raft entries' data) as etcd encodes them: an
/// etcdserverpb.InternalRaftRequest holding a PutRequest (field 4) or a DeleteRangeRequest (field 5),
/// so that etcd's own tools read our log. The messages are generated from <c>Proto/*.proto</c>;
/// leases, the request header and the request id are not used.
/// </summary>
public static class KvCommandCodec
{
    /// <summary>The command bytes of a put.</summary>
    public static byte[] Encode(PutRequest put) =>
        new Pb.InternalRaftRequest
        {
            // Wrapped, not copied: the bytes are only read while the command is written.
            Put = new Pb.PutRequest
            {
                Key = UnsafeByteOperations.UnsafeWrap(put.Key),
                Value = UnsafeByteOperations.UnsafeWrap(put.Value),
                PrevKv = put.PrevKv,
            },
        }.ToByteArray();

    /// <summary>The command bytes of a delete-range.</summary>
    public static byte[] Encode(DeleteRangeRequest delete) =>
        new Pb.InternalRaftRequest
        {
            DeleteRange = new Pb.DeleteRangeRequest
            {
                Key = UnsafeByteOperations.UnsafeWrap(delete.Key),
                RangeEnd = UnsafeByteOperations.UnsafeWrap(delete.RangeEnd),
                PrevKv = delete.PrevKv,
            },
        }.ToByteArray();

    /// <summary>The size of the request (PutRequest or DeleteRangeRequest) inside command bytes <see cref="Encode(PutRequest)"/> or <see cref="Encode(DeleteRangeRequest)"/> made.</summary>
    /// <remarks>
    /// Such a command is one field: a one-byte tag, the request's length as a varint, the request.
    /// The size follows from the command's length alone, without reading the command again.
    /// </remarks>
    public static int RequestSize(ReadOnlyMemory<byte> command)
    {
        for (var lengthSize = 1; lengthSize <= 5; lengthSize++)
        {
            var size = command.Length - 1 - lengthSize;
            if (size >= 0 && CodedOutputStream.ComputeLengthSize(size) == lengthSize) return size;
        }
        return command.Length;
    }

    /// <summary>
    /// Decodes command bytes into a <see cref="PutRequest"/> or a <see cref="DeleteRangeRequest"/>
    /// (their bytes copied out of <paramref name="command"/>), or a <see cref="KvError"/> saying why it
    /// cannot: malformed protobuf, another etcd request type, no request, a put and a delete-range
    /// in one command, or a lease or ignore flag this store does not implement.
    /// </summary>
    public static object Decode(ReadOnlyMemory<byte> command)
    {
        Pb.InternalRaftRequest request;
        if (ProtobufInput.Check(Pb.InternalRaftRequest.Descriptor, command.Span) is { } bad)
            return KvError.Malformed($"bad protobuf: {bad}");
        try
        {
            request = Pb.InternalRaftRequest.Parser.ParseFrom(command.Span);
        }
        catch (Exception ex) when (ProtobufInput.IsMalformed(ex))
        {
            return KvError.Malformed($"bad protobuf: {ex.Message}");
        }
        if (request.HasUnknownFields)
            return KvError.Malformed("unsupported request (a field other than the request id, header, put and delete-range)");
        switch (request.Put, request.DeleteRange)
        {
            case (not null, not null):
                return KvError.Malformed("more than one request in one command");
            case ({ } put, null):
                // A lease or ignore flag that is zero changes nothing; a non-zero one asks for a feature we lack.
                if (put.Lease != 0 || put.IgnoreValue || put.IgnoreLease)
                    return KvError.Malformed("bad put: leases and ignore flags are not supported");
                return new PutRequest(put.Key.Memory, put.Value.Memory, put.PrevKv);
            case (null, { } delete):
                return new DeleteRangeRequest(delete.Key.Memory, delete.RangeEnd.Memory, delete.PrevKv);
            default:
                return KvError.Malformed("no request");
        }
    }

    /// <summary>The bytes as an array segment (CodedInputStream reads arrays); copied only when they are not one.</summary>
    internal static ArraySegment<byte> Segment(ReadOnlyMemory<byte> bytes) =>
        MemoryMarshal.TryGetArray(bytes, out var segment) ? segment : new ArraySegment<byte>(bytes.ToArray());
}
