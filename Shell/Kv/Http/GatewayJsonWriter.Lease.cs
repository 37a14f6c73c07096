using System.Text.Json;
using Raft.Kv.Lease;

namespace Raft.Kv.Http;

// The Lease service's responses as etcd's gateway prints them (int64 as strings, zero fields left out).
public static partial class GatewayJsonWriter
{
    /// <summary>etcdserverpb.LeaseGrantResponse.</summary>
    public static void LeaseGrant(Utf8JsonWriter w, ResponseHeader header, long id, long ttl)
    {
        w.WriteStartObject();
        WriteHeader(w, header);
        WriteInt(w, "ID"u8, id);
        WriteInt(w, "TTL"u8, ttl);
        w.WriteEndObject();
    }

    /// <summary>etcdserverpb.LeaseRevokeResponse (and any response that is only a header).</summary>
    public static void HeaderOnly(Utf8JsonWriter w, ResponseHeader header)
    {
        w.WriteStartObject();
        WriteHeader(w, header);
        w.WriteEndObject();
    }

    /// <summary>etcdserverpb.LeaseKeepAliveResponse as one message of the gateway's stream (wrapped in "result").</summary>
    public static void LeaseKeepAlive(Utf8JsonWriter w, ResponseHeader header, long id, long ttl)
    {
        w.WriteStartObject();
        w.WritePropertyName("result"u8);
        LeaseGrant(w, header, id, ttl);
        w.WriteEndObject();
    }

    /// <summary>etcdserverpb.LeaseTimeToLiveResponse.</summary>
    public static void LeaseTimeToLive(Utf8JsonWriter w, ResponseHeader header, LeaseTimeToLive r)
    {
        w.WriteStartObject();
        WriteHeader(w, header);
        WriteInt(w, "ID"u8, r.Id);
        WriteInt(w, "TTL"u8, r.RemainingTtl);
        WriteInt(w, "grantedTTL"u8, r.GrantedTtl);
        if (r.Keys.Count > 0)
        {
            w.WriteStartArray("keys"u8);
            foreach (var k in r.Keys) w.WriteBase64StringValue(k);
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    /// <summary>etcdserverpb.LeaseLeasesResponse.</summary>
    public static void LeaseLeases(Utf8JsonWriter w, ResponseHeader header, IReadOnlyList<long> ids)
    {
        w.WriteStartObject();
        WriteHeader(w, header);
        if (ids.Count > 0)
        {
            w.WriteStartArray("leases"u8);
            foreach (var id in ids)
            {
                w.WriteStartObject();
                WriteInt(w, "ID"u8, id);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }
}
