using System.Buffers;

namespace Raft.Kv.Http;

// The Lease service's request bodies (etcdserverpb.LeaseGrantRequest, LeaseRevokeRequest,
// LeaseKeepAliveRequest, LeaseTimeToLiveRequest), read as the other gateway bodies are.
public static partial class GatewayJsonReader
{
    /// <summary>Reads a LeaseGrantRequest body: TTL and ID (0: chosen by the server).</summary>
    public static EtcdError? ReadLeaseGrant(ReadOnlySequence<byte> body, out (long Ttl, long Id) request)
    {
        var error = Scan(body, [("TTL", "TTL"), ("ID", "ID")], out var f);
        long ttl = 0, id = 0;
        error ??= Int64(f, 0, ref ttl) ?? Int64(f, 1, ref id);
        request = (ttl, id);
        return error;
    }

    /// <summary>Reads a body holding a lease ID (LeaseRevokeRequest, LeaseKeepAliveRequest).</summary>
    public static EtcdError? ReadLeaseId(ReadOnlySequence<byte> body, out long id)
    {
        var error = Scan(body, [("ID", "ID")], out var f);
        long value = 0;
        error ??= Int64(f, 0, ref value);
        id = value;
        return error;
    }

    /// <summary>Reads a LeaseTimeToLiveRequest body: ID and keys.</summary>
    public static EtcdError? ReadLeaseTimeToLive(ReadOnlySequence<byte> body, out (long Id, bool Keys) request)
    {
        var error = Scan(body, [("ID", "ID"), ("keys", "keys")], out var f);
        long id = 0;
        var keys = false;
        error ??= Int64(f, 0, ref id) ?? Bool(f, 1, ref keys);
        request = (id, keys);
        return error;
    }
}
