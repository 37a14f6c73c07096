using Google.Protobuf;
using Grpc.Core;
using Raft.Kv.Codec;
using Raft.Kv.Http;
using Mvcc = Raft.Kv.Mvcc;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Grpc;

/// <summary>Between etcdserverpb's messages and the store's requests and answers, and etcd's errors as gRPC statuses.</summary>
internal static class GrpcConvert
{
    /// <summary>The error as the gRPC status etcd's server answers with (code and etcd's message text).</summary>
    public static RpcException ToRpc(this EtcdError error) => new(new Status((StatusCode)(int)error.Code, error.Message));

    /// <summary>The unserved part of a request, answered with Unimplemented and what is missing.</summary>
    public static RpcException Unimplemented(string what) => new(new Status(StatusCode.Unimplemented, what + " is not served yet"));

    // The store's bytes are never changed in place, so a message can point at them without a copy.
    private static ByteString Bytes(ReadOnlyMemory<byte> bytes) => UnsafeByteOperations.UnsafeWrap(bytes);

    public static Pb.ResponseHeader Header(ResponseHeader h) => new()
    {
        ClusterId = h.ClusterId,
        MemberId = h.MemberId,
        Revision = h.Revision,
        RaftTerm = h.RaftTerm,
    };

    public static Pb.KeyValue KeyValue(Mvcc.KeyValue kv) => new()
    {
        Key = Bytes(kv.Key),
        CreateRevision = kv.CreateRevision,
        ModRevision = kv.ModRevision,
        Version = kv.Version,
        Value = Bytes(kv.Value),
        Lease = kv.Lease,
    };

    public static Mvcc.RangeRequest Range(Pb.RangeRequest r) => new(
        r.Key.Memory, r.RangeEnd.Memory, r.Limit, r.Revision, r.CountOnly, r.KeysOnly, r.Serializable,
        (Mvcc.RangeSortOrder)(int)r.SortOrder, (Mvcc.RangeSortTarget)(int)r.SortTarget,
        r.MinModRevision, r.MaxModRevision, r.MinCreateRevision, r.MaxCreateRevision);

    public static Pb.RangeResponse Range(ResponseHeader header, Mvcc.RangeResponse r)
    {
        var response = new Pb.RangeResponse { Header = Header(header with { Revision = r.Revision }), More = r.More, Count = r.Count };
        foreach (var kv in r.Kvs) response.Kvs.Add(KeyValue(kv));
        return response;
    }

    /// <summary>The put as the store takes it, with its lease, ignore_lease and ignore_value (checked when applied).</summary>
    public static Mvcc.PutRequest Put(Pb.PutRequest r)
    {
        // An empty key is refused first, by the shared handler, as etcd checks it first.
        if (r.Key.IsEmpty) return new Mvcc.PutRequest(r.Key.Memory, r.Value.Memory, r.PrevKv);
        return new Mvcc.PutRequest(r.Key.Memory, r.Value.Memory, r.PrevKv, r.Lease, r.IgnoreLease, r.IgnoreValue);
    }

    public static Pb.PutResponse Put(ResponseHeader header, Mvcc.PutResponse r) => new()
    {
        Header = Header(header with { Revision = r.Revision }),
        PrevKv = r.PrevKv is { } prev ? KeyValue(prev) : null,
    };

    public static Mvcc.DeleteRangeRequest DeleteRange(Pb.DeleteRangeRequest r) => new(r.Key.Memory, r.RangeEnd.Memory, r.PrevKv);

    public static Pb.DeleteRangeResponse DeleteRange(ResponseHeader header, Mvcc.DeleteRangeResponse r)
    {
        var response = new Pb.DeleteRangeResponse { Header = Header(header with { Revision = r.Revision }), Deleted = r.Deleted };
        foreach (var kv in r.PrevKvs) response.PrevKvs.Add(KeyValue(kv));
        return response;
    }

    /// <summary>
    /// The txn as the store takes it, through the command codec's reading of the same message. Leases
    /// of its puts, and the keys of ignore_lease and ignore_value, are checked when applied.
    /// </summary>
    public static Mvcc.TxnRequest Txn(Pb.TxnRequest r)
    {
        return KvCommandCodec.FromProto(r) switch
        {
            Mvcc.TxnRequest txn => txn,
            Mvcc.KvError e => throw EtcdError.From(e).ToRpc(),
            var other => throw new InvalidOperationException($"the codec read a txn as {other.GetType().Name}"),
        };
    }

    public static Pb.TxnResponse Txn(ResponseHeader header, Mvcc.TxnResponse r)
    {
        var response = new Pb.TxnResponse { Header = Header(header with { Revision = r.Revision }), Succeeded = r.Succeeded };
        // As etcd's: each inner response has a header of its own with only its revision in it.
        var nested = new ResponseHeader(0, 0, 0, 0);
        foreach (var op in r.Responses) response.Responses.Add(ResponseOp(nested, op));
        return response;
    }

    private static Pb.ResponseOp ResponseOp(ResponseHeader header, Mvcc.IKvResponse op) => op switch
    {
        Mvcc.RangeResponse range => new Pb.ResponseOp { ResponseRange = Range(header, range) },
        Mvcc.PutResponse put => new Pb.ResponseOp { ResponsePut = Put(header, put) },
        Mvcc.DeleteRangeResponse delete => new Pb.ResponseOp { ResponseDeleteRange = DeleteRange(header, delete) },
        Mvcc.TxnResponse txn => new Pb.ResponseOp { ResponseTxn = Txn(header, txn) },
        _ => throw new InvalidOperationException($"not a txn response: {op.GetType().Name}"),
    };

    public static Pb.Member Member(Raft.Interop.Member m)
    {
        var member = new Pb.Member { ID = m.Id, Name = m.Name, IsLearner = m.IsLearner };
        member.PeerURLs.Add(m.PeerUrls);
        member.ClientURLs.Add(m.ClientUrls);
        return member;
    }

    public static IEnumerable<Pb.Member> Members(IReadOnlyList<Raft.Interop.Member> members) => members.Select(Member);
}
