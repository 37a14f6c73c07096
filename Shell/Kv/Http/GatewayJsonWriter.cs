using System.Buffers;
using System.Buffers.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Raft.Interop;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Http;

/// <summary>etcdserverpb.ResponseHeader's values; zero fields are left out, as the gateway does.</summary>
/// <param name="ClusterId">The cluster.</param>
/// <param name="MemberId">The answering member.</param>
/// <param name="Revision">The store revision (0 for membership responses, which carry none).</param>
/// <param name="RaftTerm">The member's Raft term.</param>
public readonly record struct ResponseHeader(ulong ClusterId, ulong MemberId, long Revision, ulong RaftTerm);

/// <summary>
/// Writes responses as etcd's JSON gateway prints them (grpc-gateway with jsonpb, OrigName and
/// EmitDefaults off): proto field names, fields in field-number order, 64-bit integers as strings,
/// bytes as standard base64, and zero, false and empty fields left out.
/// </summary>
public static partial class GatewayJsonWriter
{
    private static readonly JsonWriterOptions Options = new()
    {
        // Base64 has '+' and '/', which the default encoder would escape; Go does not.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };

    /// <summary>A writer over <paramref name="output"/> with the gateway's escaping.</summary>
    public static Utf8JsonWriter Create(IBufferWriter<byte> output) => new(output, Options);

    private static void WriteInt(Utf8JsonWriter w, ReadOnlySpan<byte> name, long value)
    {
        if (value == 0) return;
        Span<byte> text = stackalloc byte[20];
        Utf8Formatter.TryFormat(value, text, out var n);
        w.WriteString(name, text[..n]);
    }

    private static void WriteUInt(Utf8JsonWriter w, ReadOnlySpan<byte> name, ulong value)
    {
        if (value == 0) return;
        Span<byte> text = stackalloc byte[20];
        Utf8Formatter.TryFormat(value, text, out var n);
        w.WriteString(name, text[..n]);
    }

    private static void WriteBytes(Utf8JsonWriter w, ReadOnlySpan<byte> name, ReadOnlyMemory<byte> value)
    {
        if (value.IsEmpty) return;
        w.WriteBase64String(name, value.Span);
    }

    private static void WriteBool(Utf8JsonWriter w, ReadOnlySpan<byte> name, bool value)
    {
        if (value) w.WriteBoolean(name, true);
    }

    private static void WriteText(Utf8JsonWriter w, ReadOnlySpan<byte> name, string value)
    {
        if (value.Length > 0) w.WriteString(name, value);
    }

    private static void WriteTexts(Utf8JsonWriter w, ReadOnlySpan<byte> name, IReadOnlyList<string> values)
    {
        if (values.Count == 0) return;
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }

    private static void WriteHeader(Utf8JsonWriter w, ResponseHeader h)
    {
        w.WriteStartObject("header"u8);
        WriteUInt(w, "cluster_id"u8, h.ClusterId);
        WriteUInt(w, "member_id"u8, h.MemberId);
        WriteInt(w, "revision"u8, h.Revision);
        WriteUInt(w, "raft_term"u8, h.RaftTerm);
        w.WriteEndObject();
    }

    private static void WriteKeyValue(Utf8JsonWriter w, KeyValue kv)
    {
        w.WriteStartObject();
        WriteBytes(w, "key"u8, kv.Key);
        WriteInt(w, "create_revision"u8, kv.CreateRevision);
        WriteInt(w, "mod_revision"u8, kv.ModRevision);
        WriteInt(w, "version"u8, kv.Version);
        WriteBytes(w, "value"u8, kv.Value);
        WriteInt(w, "lease"u8, kv.Lease);
        w.WriteEndObject();
    }

    private static void WriteKeyValues(Utf8JsonWriter w, ReadOnlySpan<byte> name, IReadOnlyList<KeyValue> kvs)
    {
        if (kvs.Count == 0) return;
        w.WriteStartArray(name);
        foreach (var kv in kvs) WriteKeyValue(w, kv);
        w.WriteEndArray();
    }

    /// <summary>etcdserverpb.PutResponse.</summary>
    public static void Put(Utf8JsonWriter w, ResponseHeader header, PutResponse response)
    {
        w.WriteStartObject();
        WriteHeader(w, header with { Revision = response.Revision });
        if (response.PrevKv is { } prev)
        {
            w.WritePropertyName("prev_kv"u8);
            WriteKeyValue(w, prev);
        }
        w.WriteEndObject();
    }

    /// <summary>etcdserverpb.RangeResponse.</summary>
    public static void Range(Utf8JsonWriter w, ResponseHeader header, RangeResponse response)
    {
        w.WriteStartObject();
        WriteHeader(w, header with { Revision = response.Revision });
        WriteKeyValues(w, "kvs"u8, response.Kvs);
        WriteBool(w, "more"u8, response.More);
        WriteInt(w, "count"u8, response.Count);
        w.WriteEndObject();
    }

    /// <summary>etcdserverpb.DeleteRangeResponse.</summary>
    public static void DeleteRange(Utf8JsonWriter w, ResponseHeader header, DeleteRangeResponse response)
    {
        w.WriteStartObject();
        WriteHeader(w, header with { Revision = response.Revision });
        WriteInt(w, "deleted"u8, response.Deleted);
        WriteKeyValues(w, "prev_kvs"u8, response.PrevKvs);
        w.WriteEndObject();
    }

    /// <summary>etcdserverpb.TxnResponse: each response of the branch run, in a ResponseOp, with its own revision only in its header.</summary>
    public static void Txn(Utf8JsonWriter w, ResponseHeader header, TxnResponse response)
    {
        w.WriteStartObject();
        WriteHeader(w, header with { Revision = response.Revision });
        WriteBool(w, "succeeded"u8, response.Succeeded);
        if (response.Responses.Count > 0)
        {
            w.WriteStartArray("responses"u8);
            var nested = new ResponseHeader(0, 0, 0, 0);
            foreach (var r in response.Responses)
            {
                w.WriteStartObject();
                switch (r)
                {
                    case RangeResponse range:
                        w.WritePropertyName("response_range"u8);
                        Range(w, nested, range);
                        break;
                    case PutResponse put:
                        w.WritePropertyName("response_put"u8);
                        Put(w, nested, put);
                        break;
                    case DeleteRangeResponse delete:
                        w.WritePropertyName("response_delete_range"u8);
                        DeleteRange(w, nested, delete);
                        break;
                    case TxnResponse txn:
                        w.WritePropertyName("response_txn"u8);
                        Txn(w, nested, txn);
                        break;
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    /// <summary>etcdserverpb.AlarmResponse: the alarms, each with its member id and alarm name.</summary>
    public static void Alarm(Utf8JsonWriter w, ResponseHeader header, AlarmResponse response)
    {
        w.WriteStartObject();
        WriteHeader(w, header);
        if (response.Alarms.Count > 0)
        {
            w.WriteStartArray("alarms"u8);
            foreach (var a in response.Alarms)
            {
                w.WriteStartObject();
                WriteUInt(w, "memberID"u8, a.MemberId);
                // jsonpb writes enums by name, and leaves the zero value (NONE) out.
                if (a.Alarm != AlarmType.None) w.WriteString("alarm"u8, a.Alarm == AlarmType.NoSpace ? "NOSPACE" : a.Alarm == AlarmType.Corrupt ? "CORRUPT" : ((int)a.Alarm).ToString(System.Globalization.CultureInfo.InvariantCulture));
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    /// <summary>etcdserverpb.CompactionResponse.</summary>
    public static void Compaction(Utf8JsonWriter w, ResponseHeader header, CompactionResponse response)
    {
        w.WriteStartObject();
        WriteHeader(w, header with { Revision = response.Revision });
        w.WriteEndObject();
    }

    private static void WriteMember(Utf8JsonWriter w, Member m)
    {
        w.WriteStartObject();
        WriteUInt(w, "ID"u8, m.Id);
        WriteText(w, "name"u8, m.Name);
        WriteTexts(w, "peerURLs"u8, m.PeerUrls);
        WriteTexts(w, "clientURLs"u8, m.ClientUrls);
        WriteBool(w, "isLearner"u8, m.IsLearner);
        w.WriteEndObject();
    }

    private static void WriteMembers(Utf8JsonWriter w, IReadOnlyList<Member> members)
    {
        if (members.Count == 0) return;
        w.WriteStartArray("members"u8);
        foreach (var m in members) WriteMember(w, m);
        w.WriteEndArray();
    }

    /// <summary>MemberListResponse, MemberRemoveResponse or MemberPromoteResponse: the header and the members.</summary>
    public static void Members(Utf8JsonWriter w, ResponseHeader header, IReadOnlyList<Member> members)
    {
        w.WriteStartObject();
        WriteHeader(w, header);
        WriteMembers(w, members);
        w.WriteEndObject();
    }

    /// <summary>etcdserverpb.MemberAddResponse: the added member (id, peer URLs, learner flag) and all members.</summary>
    public static void MemberAdd(Utf8JsonWriter w, ResponseHeader header, Member added, IReadOnlyList<Member> members)
    {
        w.WriteStartObject();
        WriteHeader(w, header);
        w.WritePropertyName("member"u8);
        // etcd answers with the member as proposed: no name or client URLs yet.
        WriteMember(w, added with { Name = "", ClientUrls = [] });
        WriteMembers(w, members);
        w.WriteEndObject();
    }

    /// <summary>etcdserverpb.StatusResponse's values.</summary>
    /// <param name="Version">The server version reported.</param>
    /// <param name="DbSize">Store size in bytes.</param>
    /// <param name="Leader">Leader id (0 for none).</param>
    /// <param name="RaftIndex">Committed index.</param>
    /// <param name="RaftTerm">Term.</param>
    /// <param name="RaftAppliedIndex">Applied index.</param>
    /// <param name="Errors">Problems (e.g. "etcdserver: no leader").</param>
    /// <param name="DbSizeInUse">Store bytes in use.</param>
    /// <param name="IsLearner">Whether this member is a learner.</param>
    public sealed record Status(string Version, long DbSize, ulong Leader, ulong RaftIndex, ulong RaftTerm, ulong RaftAppliedIndex,
        IReadOnlyList<string> Errors, long DbSizeInUse, bool IsLearner);

    /// <summary>etcdserverpb.StatusResponse.</summary>
    public static void MaintenanceStatus(Utf8JsonWriter w, ResponseHeader header, Status s)
    {
        w.WriteStartObject();
        WriteHeader(w, header);
        WriteText(w, "version"u8, s.Version);
        WriteInt(w, "dbSize"u8, s.DbSize);
        WriteUInt(w, "leader"u8, s.Leader);
        WriteUInt(w, "raftIndex"u8, s.RaftIndex);
        WriteUInt(w, "raftTerm"u8, s.RaftTerm);
        WriteUInt(w, "raftAppliedIndex"u8, s.RaftAppliedIndex);
        WriteTexts(w, "errors"u8, s.Errors);
        WriteInt(w, "dbSizeInUse"u8, s.DbSizeInUse);
        WriteBool(w, "isLearner"u8, s.IsLearner);
        w.WriteEndObject();
    }

    /// <summary>etcdserverpb.HashResponse (the hash a uint32, so a JSON number).</summary>
    public static void Hash(Utf8JsonWriter w, ResponseHeader header, uint hash)
    {
        w.WriteStartObject();
        WriteHeader(w, header);
        if (hash != 0) w.WriteNumber("hash"u8, hash);
        w.WriteEndObject();
    }

    /// <summary>
    /// etcdserverpb.SnapshotResponse as one message of the gateway's stream (wrapped in "result"):
    /// no header, as etcd sends none.
    /// </summary>
    public static void SnapshotChunk(Utf8JsonWriter w, ulong remainingBytes, ReadOnlySpan<byte> blob)
    {
        w.WriteStartObject();
        w.WritePropertyName("result"u8);
        w.WriteStartObject();
        WriteUInt(w, "remaining_bytes"u8, remainingBytes);
        if (!blob.IsEmpty) w.WriteBase64String("blob"u8, blob);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>The gateway's error body (grpc-gateway v1.16, as in etcd 3.5): error, code, message.</summary>
    public static void Error(Utf8JsonWriter w, EtcdError error)
    {
        w.WriteStartObject();
        w.WriteString("error"u8, error.Message);
        w.WriteNumber("code"u8, (int)error.Code);
        w.WriteString("message"u8, error.Message);
        w.WriteEndObject();
    }
}
