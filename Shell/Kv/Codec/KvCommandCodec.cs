using System.Runtime.InteropServices;
using Google.Protobuf;
using Raft.Interop.Wire;
using Raft.Kv.Mvcc;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Codec;

/// <summary>
/// Encodes the store's commands (the Raft entries' data) as etcd encodes them: an
/// etcdserverpb.InternalRaftRequest holding a PutRequest (field 4), a DeleteRangeRequest (field 5),
/// a TxnRequest (field 6), a CompactionRequest (field 7), a LeaseGrantRequest (8), a LeaseRevokeRequest (9), so that etcd's own tools read our log.
/// The messages are generated from <c>Proto/*.proto</c>; the request header and the request id are not used.
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
                Lease = put.Lease,
                IgnoreLease = put.IgnoreLease,
                IgnoreValue = put.IgnoreValue,
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

    /// <summary>The command bytes of a txn.</summary>
    public static byte[] Encode(TxnRequest txn) => new Pb.InternalRaftRequest { Txn = ToProto(txn) }.ToByteArray();

    /// <summary>The command bytes of an alarm request.</summary>
    public static byte[] Encode(AlarmRequest alarm) =>
        new Pb.InternalRaftRequest { Alarm = new Pb.AlarmRequest { Action = (Pb.AlarmRequest.Types.AlarmAction)alarm.Action, MemberID = alarm.MemberId, Alarm = (Pb.AlarmType)alarm.Alarm } }.ToByteArray();

    /// <summary>The command bytes of a lease grant (etcd's field 8).</summary>
    public static byte[] Encode(Lease.LeaseGrantRequest grant) =>
        new Pb.InternalRaftRequest { LeaseGrant = new Pb.LeaseGrantRequest { ID = grant.Id, TTL = grant.Ttl } }.ToByteArray();

    /// <summary>The command bytes of a lease revoke (etcd's field 9).</summary>
    public static byte[] Encode(Lease.LeaseRevokeRequest revoke) =>
        new Pb.InternalRaftRequest { LeaseRevoke = new Pb.LeaseRevokeRequest { ID = revoke.Id } }.ToByteArray();

    /// <summary>The command bytes of a compaction.</summary>
    public static byte[] Encode(CompactionRequest compaction) =>
        new Pb.InternalRaftRequest { Compaction = new Pb.CompactionRequest { Revision = compaction.Revision, Physical = compaction.Physical } }.ToByteArray();

    private static Pb.TxnRequest ToProto(TxnRequest txn)
    {
        var pb = new Pb.TxnRequest();
        foreach (var c in txn.Compares)
        {
            var compare = new Pb.Compare
            {
                Result = (Pb.Compare.Types.CompareResult)c.Result,
                Target = (Pb.Compare.Types.CompareTarget)c.Target,
                Key = UnsafeByteOperations.UnsafeWrap(c.Key),
                RangeEnd = UnsafeByteOperations.UnsafeWrap(c.RangeEnd),
            };
            switch (c.UnionCase)
            {
                case CompareTarget.Version: compare.Version = c.Number; break;
                case CompareTarget.Create: compare.CreateRevision = c.Number; break;
                case CompareTarget.Mod: compare.ModRevision = c.Number; break;
                case CompareTarget.Lease: compare.Lease = c.Number; break;
                case CompareTarget.Value: compare.Value = UnsafeByteOperations.UnsafeWrap(c.Value); break;
            }
            pb.Compare.Add(compare);
        }
        pb.Success.AddRange(txn.Success.Select(ToProto));
        pb.Failure.AddRange(txn.Failure.Select(ToProto));
        return pb;
    }

    private static Pb.RequestOp ToProto(IKvRequest op) => op switch
    {
        RangeRequest r => new Pb.RequestOp
        {
            RequestRange = new Pb.RangeRequest
            {
                Key = UnsafeByteOperations.UnsafeWrap(r.Key), RangeEnd = UnsafeByteOperations.UnsafeWrap(r.RangeEnd), Limit = r.Limit,
                Revision = r.Revision, SortOrder = (Pb.RangeRequest.Types.SortOrder)r.SortOrder, SortTarget = (Pb.RangeRequest.Types.SortTarget)r.SortTarget, Serializable = r.Serializable,
                KeysOnly = r.KeysOnly, CountOnly = r.CountOnly, MinModRevision = r.MinModRevision, MaxModRevision = r.MaxModRevision,
                MinCreateRevision = r.MinCreateRevision, MaxCreateRevision = r.MaxCreateRevision,
            },
        },
        PutRequest p => new Pb.RequestOp
        {
            RequestPut = new Pb.PutRequest { Key = UnsafeByteOperations.UnsafeWrap(p.Key), Value = UnsafeByteOperations.UnsafeWrap(p.Value), PrevKv = p.PrevKv, Lease = p.Lease, IgnoreLease = p.IgnoreLease, IgnoreValue = p.IgnoreValue },
        },
        DeleteRangeRequest d => new Pb.RequestOp
        {
            RequestDeleteRange = new Pb.DeleteRangeRequest { Key = UnsafeByteOperations.UnsafeWrap(d.Key), RangeEnd = UnsafeByteOperations.UnsafeWrap(d.RangeEnd), PrevKv = d.PrevKv },
        },
        TxnRequest t => new Pb.RequestOp { RequestTxn = ToProto(t) },
        _ => throw new ArgumentException($"not a txn operation: {op.GetType().Name}", nameof(op)),
    };

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
    /// Decodes command bytes into a <see cref="PutRequest"/>, <see cref="DeleteRangeRequest"/>,
    /// <see cref="TxnRequest"/>, <see cref="CompactionRequest"/>, <see cref="AlarmRequest"/> or
    /// <see cref="Auth.AuthCommand"/> (their bytes copied out of
    /// <paramref name="command"/>), or a <see cref="KvError"/> saying why it cannot: malformed
    /// protobuf, another etcd request type, no request, two requests in one command, or a lease or
    /// ignore flag this store does not implement.
    /// </summary>
    public static object Decode(ReadOnlyMemory<byte> command) => Decode(command, out _);

    /// <summary>
    /// <see cref="Decode(ReadOnlyMemory{byte})"/>, and the caller the command's header names (null
    /// when it has no header: a command the cluster proposed itself).
    /// </summary>
    public static object Decode(ReadOnlyMemory<byte> command, out Auth.AuthInfo? caller)
    {
        caller = null;
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
        caller = Auth.AuthHeader.Of(request);
        if (request.HasUnknownFields)
            return KvError.Malformed("unsupported request (a field other than the request id, header, put, delete-range, txn, compaction, lease grant and revoke, and alarm)");
        var requests = (request.Put is null ? 0 : 1) + (request.DeleteRange is null ? 0 : 1) + (request.Txn is null ? 0 : 1)
            + (request.Compaction is null ? 0 : 1) + (request.Alarm is null ? 0 : 1)
            + (request.LeaseGrant is null ? 0 : 1) + (request.LeaseRevoke is null ? 0 : 1);
        if (Auth.AuthCommand.From(request, requests) is { } auth) return auth;
        if (requests > 1) return KvError.Malformed("more than one request in one command");
        if (request.Put is { } put) return FromProto(put);
        if (request.DeleteRange is { } delete) return FromProto(delete);
        if (request.Txn is { } txn) return FromProto(txn);
        if (request.Compaction is { } compaction) return new CompactionRequest(compaction.Revision, compaction.Physical);
        if (request.Alarm is { } alarm) return new AlarmRequest((AlarmAction)alarm.Action, alarm.MemberID, (AlarmType)alarm.Alarm);
        if (request.LeaseGrant is { } grant) return new Lease.LeaseGrantRequest(grant.ID, grant.TTL);
        if (request.LeaseRevoke is { } revoke) return new Lease.LeaseRevokeRequest(revoke.ID);
        return KvError.Malformed("no request");
    }

    private static PutRequest FromProto(Pb.PutRequest put) =>
        new(put.Key.Memory, put.Value.Memory, put.PrevKv, put.Lease, put.IgnoreLease, put.IgnoreValue);

    private static DeleteRangeRequest FromProto(Pb.DeleteRangeRequest delete) => new(delete.Key.Memory, delete.RangeEnd.Memory, delete.PrevKv);

    /// <summary>A txn message as the store takes it, or the <see cref="KvError"/> of a request inside it the store cannot take.</summary>
    internal static object FromProto(Pb.TxnRequest txn)
    {
        var compares = txn.Compare.Select(c => new Compare(
            (CompareResult)c.Result, (CompareTarget)c.Target, c.Key.Memory, c.RangeEnd.Memory,
            c.TargetUnionCase switch
            {
                Pb.Compare.TargetUnionOneofCase.Version => CompareTarget.Version,
                Pb.Compare.TargetUnionOneofCase.CreateRevision => CompareTarget.Create,
                Pb.Compare.TargetUnionOneofCase.ModRevision => CompareTarget.Mod,
                Pb.Compare.TargetUnionOneofCase.Value => CompareTarget.Value,
                Pb.Compare.TargetUnionOneofCase.Lease => CompareTarget.Lease,
                _ => null,
            },
            c.TargetUnionCase switch
            {
                Pb.Compare.TargetUnionOneofCase.Version => c.Version,
                Pb.Compare.TargetUnionOneofCase.CreateRevision => c.CreateRevision,
                Pb.Compare.TargetUnionOneofCase.ModRevision => c.ModRevision,
                Pb.Compare.TargetUnionOneofCase.Lease => c.Lease,
                _ => 0,
            },
            c.Value.Memory)).ToList();
        var success = new List<IKvRequest>();
        var failure = new List<IKvRequest>();
        foreach (var (ops, list) in new[] { (txn.Success, success), (txn.Failure, failure) })
        {
            foreach (var op in ops)
            {
                object decoded = op.RequestCase switch
                {
                    Pb.RequestOp.RequestOneofCase.RequestRange => FromProto(op.RequestRange),
                    Pb.RequestOp.RequestOneofCase.RequestPut => FromProto(op.RequestPut),
                    Pb.RequestOp.RequestOneofCase.RequestDeleteRange => FromProto(op.RequestDeleteRange),
                    Pb.RequestOp.RequestOneofCase.RequestTxn => FromProto(op.RequestTxn),
                    _ => KvError.Malformed("txn operation without a request"),
                };
                if (decoded is KvError error) return error;
                list.Add((IKvRequest)decoded);
            }
        }
        return new TxnRequest(compares, success, failure);
    }

    private static RangeRequest FromProto(Pb.RangeRequest r) =>
        new(r.Key.Memory, r.RangeEnd.Memory, r.Limit, r.Revision, r.CountOnly, r.KeysOnly, r.Serializable,
            (RangeSortOrder)r.SortOrder, (RangeSortTarget)r.SortTarget, r.MinModRevision, r.MaxModRevision, r.MinCreateRevision, r.MaxCreateRevision);

    /// <summary>The bytes as an array segment (CodedInputStream reads arrays); copied only when they are not one.</summary>
    internal static ArraySegment<byte> Segment(ReadOnlyMemory<byte> bytes) =>
        MemoryMarshal.TryGetArray(bytes, out var segment) ? segment : new ArraySegment<byte>(bytes.ToArray());
}
