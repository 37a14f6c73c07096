using Google.Protobuf;
using Grpc.Core;
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

    /// <summary>
    /// The put as the store takes it. Leases do not exist yet: a put that names one gets etcd's answer
    /// for a lease that does not exist; ignore_value and ignore_lease are not served yet.
    /// </summary>
    public static Mvcc.PutRequest Put(Pb.PutRequest r)
    {
        // An empty key is refused first, by the shared handler, as etcd checks it first.
        if (r.Key.IsEmpty) return new Mvcc.PutRequest(r.Key.Memory, r.Value.Memory, r.PrevKv);
        if (r.IgnoreValue || r.IgnoreLease) throw Unimplemented("a put with ignore_value or ignore_lease");
        if (r.Lease != 0) throw new EtcdError(GrpcCode.NotFound, "etcdserver: requested lease not found").ToRpc();
        return new Mvcc.PutRequest(r.Key.Memory, r.Value.Memory, r.PrevKv);
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

    public static Pb.Member Member(Raft.Interop.Member m)
    {
        var member = new Pb.Member { ID = m.Id, Name = m.Name, IsLearner = m.IsLearner };
        member.PeerURLs.Add(m.PeerUrls);
        member.ClientURLs.Add(m.ClientUrls);
        return member;
    }

    public static IEnumerable<Pb.Member> Members(IReadOnlyList<Raft.Interop.Member> members) => members.Select(Member);
}
