using Raft.Kv.Mvcc;

namespace Raft.Kv.Codec;

/// <summary>
/// Encodes the store's commands (the Raft entries' data) as etcd encodes them: an
/// etcdserverpb.InternalRaftRequest holding a PutRequest (field 4) or a DeleteRangeRequest (field 5),
/// so that etcd's own tools read our log. Leases, the request header and the request id are not used.
/// </summary>
public static class KvCommandCodec
{
    // InternalRaftRequest fields.
    private const int PutField = 4;
    private const int DeleteRangeField = 5;

    // PutRequest fields.
    private const int PutKey = 1, PutValue = 2, PutLease = 3, PutPrevKv = 4, PutIgnoreValue = 5, PutIgnoreLease = 6;

    // DeleteRangeRequest fields.
    private const int DelKey = 1, DelRangeEnd = 2, DelPrevKv = 3;

    /// <summary>The command bytes of a put.</summary>
    public static byte[] Encode(PutRequest put)
    {
        var body = ProtoWriter.BytesFieldSize(PutKey, put.Key.Length)
                   + ProtoWriter.BytesFieldSize(PutValue, put.Value.Length)
                   + ProtoWriter.VarintFieldSize(PutPrevKv, put.PrevKv.AsVarint());
        var bytes = new byte[ProtoWriter.MessageFieldSize(PutField, body)];
        var w = new ProtoWriter(bytes);
        w.WriteMessageHeader(PutField, body);
        w.WriteBytesField(PutKey, put.Key.Span);
        w.WriteBytesField(PutValue, put.Value.Span);
        w.WriteVarintField(PutPrevKv, put.PrevKv.AsVarint());
        return bytes;
    }

    /// <summary>The command bytes of a delete-range.</summary>
    public static byte[] Encode(DeleteRangeRequest delete)
    {
        var body = ProtoWriter.BytesFieldSize(DelKey, delete.Key.Length)
                   + ProtoWriter.BytesFieldSize(DelRangeEnd, delete.RangeEnd.Length)
                   + ProtoWriter.VarintFieldSize(DelPrevKv, delete.PrevKv.AsVarint());
        var bytes = new byte[ProtoWriter.MessageFieldSize(DeleteRangeField, body)];
        var w = new ProtoWriter(bytes);
        w.WriteMessageHeader(DeleteRangeField, body);
        w.WriteBytesField(DelKey, delete.Key.Span);
        w.WriteBytesField(DelRangeEnd, delete.RangeEnd.Span);
        w.WriteVarintField(DelPrevKv, delete.PrevKv.AsVarint());
        return bytes;
    }

    /// <summary>The size of the request (PutRequest or DeleteRangeRequest) inside encoded command bytes.</summary>
    public static int RequestSize(ReadOnlySpan<byte> command)
    {
        var r = new ProtoReader(command);
        return r.TryReadTag(out _, out _) && r.TryReadVarint(out var length) ? (int)length : command.Length;
    }

    /// <summary>
    /// Decodes command bytes into a <see cref="PutRequest"/> or a <see cref="DeleteRangeRequest"/>
    /// (their bytes copied out of <paramref name="command"/>), or a <see cref="KvError"/> saying why it
    /// cannot: malformed protobuf, no supported request, more than one request, or a lease or
    /// ignore flag this store does not implement.
    /// </summary>
    public static object Decode(ReadOnlySpan<byte> command)
    {
        var r = new ProtoReader(command);
        object? request = null;
        while (!r.AtEnd)
        {
            if (!r.TryReadTag(out var field, out var type)) return KvError.Malformed("bad protobuf tag");
            if (field is PutField or DeleteRangeField)
            {
                if (type != WireType.LengthDelimited || !r.TryReadLengthDelimited(out var body))
                    return KvError.Malformed("bad embedded request");
                if (request is not null) return KvError.Malformed("more than one request in one command");
                request = field == PutField ? DecodePut(body) : DecodeDeleteRange(body);
                if (request is KvError) return request;
            }
            else if (field is >= 2 and <= 11 or >= 1000)
            {
                // Another etcd request type (v2, range, txn, lease, auth, ...): not something this store applies.
                // The request id (1) and header (100) are skipped below.
                return KvError.Malformed($"unsupported request (InternalRaftRequest field {field})");
            }
            else if (!r.TrySkip(type))
            {
                return KvError.Malformed("truncated field");
            }
        }
        return request ?? KvError.Malformed("no request");
    }

    private static object DecodePut(ReadOnlySpan<byte> body)
    {
        var r = new ProtoReader(body);
        byte[] key = [], value = [];
        var prevKv = false;
        while (!r.AtEnd)
        {
            if (!r.TryReadTag(out var field, out var type)) return KvError.Malformed("bad protobuf tag in put");
            var ok = field switch
            {
                PutKey => r.TryReadBytes(type, out key),
                PutValue => r.TryReadBytes(type, out value),
                PutPrevKv => r.TryReadBool(type, out prevKv),
                PutLease or PutIgnoreValue or PutIgnoreLease => UnsupportedNonZero(ref r, type),
                _ => r.TrySkip(type),
            };
            if (!ok) return KvError.Malformed($"bad put field {field} (leases and ignore flags are not supported)");
        }
        return new PutRequest(key, value, prevKv);
    }

    private static object DecodeDeleteRange(ReadOnlySpan<byte> body)
    {
        var r = new ProtoReader(body);
        byte[] key = [], rangeEnd = [];
        var prevKv = false;
        while (!r.AtEnd)
        {
            if (!r.TryReadTag(out var field, out var type)) return KvError.Malformed("bad protobuf tag in delete-range");
            var ok = field switch
            {
                DelKey => r.TryReadBytes(type, out key),
                DelRangeEnd => r.TryReadBytes(type, out rangeEnd),
                DelPrevKv => r.TryReadBool(type, out prevKv),
                _ => r.TrySkip(type),
            };
            if (!ok) return KvError.Malformed($"bad delete-range field {field}");
        }
        return new DeleteRangeRequest(key, rangeEnd, prevKv);
    }

    // A lease or ignore flag that is present but zero changes nothing; a non-zero one asks for a feature we lack.
    private static bool UnsupportedNonZero(ref ProtoReader r, WireType type) =>
        type == WireType.Varint && r.TryReadVarint(out var v) && v == 0;
}
