using System.Runtime.InteropServices;
using Google.Protobuf;
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

    /// <summary>The size of the request (PutRequest or DeleteRangeRequest) inside encoded command bytes.</summary>
    public static int RequestSize(ReadOnlyMemory<byte> command)
    {
        try
        {
            var input = Input(command);
            return input.ReadTag() != 0 ? input.ReadLength() : command.Length;
        }
        catch (InvalidProtocolBufferException)
        {
            return command.Length;
        }
    }

    /// <summary>
    /// Decodes command bytes into a <see cref="PutRequest"/> or a <see cref="DeleteRangeRequest"/>
    /// (their bytes copied out of <paramref name="command"/>), or a <see cref="KvError"/> saying why it
    /// cannot: malformed protobuf, no supported request, more than one request, or a lease or
    /// ignore flag this store does not implement.
    /// </summary>
    /// <remarks>
    /// The envelope is read field by field rather than parsed whole: etcd's InternalRaftRequest has a
    /// field per request type, and a command this store must refuse is recognised by which fields it
    /// holds (another request type, or two requests), which a parsed message cannot tell apart from
    /// an absent or merged field.
    /// </remarks>
    public static object Decode(ReadOnlyMemory<byte> command)
    {
        var segment = Segment(command);
        var input = new CodedInputStream(segment.Array!, segment.Offset, segment.Count);
        object? request = null;
        while (true)
        {
            uint tag;
            try
            {
                tag = input.ReadTag();
            }
            catch (InvalidProtocolBufferException)
            {
                return KvError.Malformed("bad protobuf tag");
            }
            if (tag == 0) break;
            var field = WireFormat.GetTagFieldNumber(tag);
            if (field is Pb.InternalRaftRequest.PutFieldNumber or Pb.InternalRaftRequest.DeleteRangeFieldNumber)
            {
                if (WireFormat.GetTagWireType(tag) != WireFormat.WireType.LengthDelimited
                    || EmbeddedBody(segment, (int)input.Position) is not { } body)
                    return KvError.Malformed("bad embedded request");
                if (request is not null) return KvError.Malformed("more than one request in one command");
                request = field == Pb.InternalRaftRequest.PutFieldNumber ? DecodePut(body) : DecodeDeleteRange(body);
                if (request is KvError) return request;
                input.SkipLastField();
            }
            else if (field is >= 2 and <= 11 or >= 1000)
            {
                // Another etcd request type (v2, range, txn, lease, auth, ...): not something this store applies.
                // The request id (1) and header (100) are skipped below.
                return KvError.Malformed($"unsupported request (InternalRaftRequest field {field})");
            }
            else
            {
                try
                {
                    input.SkipLastField();
                }
                catch (InvalidProtocolBufferException)
                {
                    return KvError.Malformed("truncated field");
                }
            }
        }
        return request ?? KvError.Malformed("no request");
    }

    /// <summary>
    /// The body of the length-delimited field whose length starts at <paramref name="at"/> (an index
    /// into the segment's array, as CodedInputStream.Position counts), or null when it overruns the command.
    /// </summary>
    private static ReadOnlyMemory<byte>? EmbeddedBody(ArraySegment<byte> command, int at)
    {
        var end = command.Offset + command.Count;
        try
        {
            var length = new CodedInputStream(command.Array!, at, end - at);
            var size = length.ReadLength();
            var start = (int)length.Position;
            return size >= 0 && size <= end - start ? new ReadOnlyMemory<byte>(command.Array, start, size) : (ReadOnlyMemory<byte>?)null;
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
    }

    private static object DecodePut(ReadOnlyMemory<byte> body)
    {
        Pb.PutRequest put;
        try
        {
            put = Pb.PutRequest.Parser.ParseFrom(body.Span);
        }
        catch (InvalidProtocolBufferException ex)
        {
            return KvError.Malformed($"bad put field: {ex.Message}");
        }
        // A lease or ignore flag that is zero changes nothing; a non-zero one asks for a feature we lack.
        if (put.Lease != 0 || put.IgnoreValue || put.IgnoreLease)
            return KvError.Malformed("bad put field: leases and ignore flags are not supported");
        return new PutRequest(put.Key.Memory, put.Value.Memory, put.PrevKv);
    }

    private static object DecodeDeleteRange(ReadOnlyMemory<byte> body)
    {
        try
        {
            var delete = Pb.DeleteRangeRequest.Parser.ParseFrom(body.Span);
            return new DeleteRangeRequest(delete.Key.Memory, delete.RangeEnd.Memory, delete.PrevKv);
        }
        catch (InvalidProtocolBufferException ex)
        {
            return KvError.Malformed($"bad delete-range field: {ex.Message}");
        }
    }

    private static CodedInputStream Input(ReadOnlyMemory<byte> bytes)
    {
        var segment = Segment(bytes);
        return new CodedInputStream(segment.Array!, segment.Offset, segment.Count);
    }

    /// <summary>The bytes as an array segment (CodedInputStream reads arrays); copied only when they are not one.</summary>
    internal static ArraySegment<byte> Segment(ReadOnlyMemory<byte> bytes) =>
        MemoryMarshal.TryGetArray(bytes, out var segment) ? segment : new ArraySegment<byte>(bytes.ToArray());
}
