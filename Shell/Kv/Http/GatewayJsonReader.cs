using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Http;

/// <summary>
/// Reads request bodies as etcd's JSON gateway does (grpc-gateway's jsonpb): an object whose fields go
/// by their proto name or its lowerCamelCase JSON name, unknown fields ignored, bytes as standard
/// base64, 64-bit integers as numbers or strings, null as the field's zero value, an empty body as an
/// empty request. Errors carry the gateway's messages (Go's encoding/json and encoding/base64 text).
/// </summary>
public static class GatewayJsonReader
{
    private delegate EtcdError? FieldReader(ref Utf8JsonReader reader);

    /// <summary>Reads a PutRequest body.</summary>
    public static EtcdError? ReadPut(ReadOnlySequence<byte> body, out PutRequest request)
    {
        byte[] key = [], value = [];
        long lease = 0;
        bool prevKv = false, ignoreValue = false, ignoreLease = false;
        var error = ReadObject(body, "etcdserverpb.PutRequest", (ref Utf8JsonReader r) =>
            Is(ref r, "key"u8) ? ReadBytes(ref r, ref key)
            : Is(ref r, "value"u8) ? ReadBytes(ref r, ref value)
            : Is(ref r, "lease"u8) ? ReadInt64(ref r, ref lease)
            : Is(ref r, "prev_kv"u8, "prevKv"u8) ? ReadBool(ref r, ref prevKv)
            : Is(ref r, "ignore_value"u8, "ignoreValue"u8) ? ReadBool(ref r, ref ignoreValue)
            : Is(ref r, "ignore_lease"u8, "ignoreLease"u8) ? ReadBool(ref r, ref ignoreLease)
            : Skip(ref r));
        request = new PutRequest(key, value, prevKv);
        if (error is not null) return error;
        // No leases exist here, so any lease is one etcd would not find.
        if (lease != 0) return new EtcdError(GrpcCode.NotFound, "etcdserver: requested lease not found");
        if (ignoreValue || ignoreLease) return new EtcdError(GrpcCode.Unimplemented, "ignore_value and ignore_lease are not supported");
        return null;
    }

    /// <summary>Reads a RangeRequest body.</summary>
    public static EtcdError? ReadRange(ReadOnlySequence<byte> body, out RangeRequest request)
    {
        byte[] key = [], rangeEnd = [];
        long limit = 0, revision = 0, sortOrder = 0, sortTarget = 0, filters = 0;
        bool serializable = false, keysOnly = false, countOnly = false;
        var error = ReadObject(body, "etcdserverpb.RangeRequest", (ref Utf8JsonReader r) =>
            Is(ref r, "key"u8) ? ReadBytes(ref r, ref key)
            : Is(ref r, "range_end"u8, "rangeEnd"u8) ? ReadBytes(ref r, ref rangeEnd)
            : Is(ref r, "limit"u8) ? ReadInt64(ref r, ref limit)
            : Is(ref r, "revision"u8) ? ReadInt64(ref r, ref revision)
            : Is(ref r, "sort_order"u8, "sortOrder"u8) ? ReadEnum(ref r, ref sortOrder, "NONE", "ASCEND", "DESCEND")
            : Is(ref r, "sort_target"u8, "sortTarget"u8) ? ReadEnum(ref r, ref sortTarget, "KEY", "VERSION", "CREATE", "MOD", "VALUE")
            : Is(ref r, "serializable"u8) ? ReadBool(ref r, ref serializable)
            : Is(ref r, "keys_only"u8, "keysOnly"u8) ? ReadBool(ref r, ref keysOnly)
            : Is(ref r, "count_only"u8, "countOnly"u8) ? ReadBool(ref r, ref countOnly)
            : Is(ref r, "min_mod_revision"u8, "minModRevision"u8) || Is(ref r, "max_mod_revision"u8, "maxModRevision"u8)
              || Is(ref r, "min_create_revision"u8, "minCreateRevision"u8) || Is(ref r, "max_create_revision"u8, "maxCreateRevision"u8)
                ? ReadInt64Or(ref r, ref filters)
            : Skip(ref r));
        request = new RangeRequest(key, rangeEnd, limit, revision, countOnly, keysOnly, serializable);
        if (error is not null) return error;
        if (sortOrder != 0 || sortTarget != 0 || filters != 0)
            return new EtcdError(GrpcCode.Unimplemented, "sorting and revision filters are not supported");
        return null;
    }

    /// <summary>Reads a DeleteRangeRequest body.</summary>
    public static EtcdError? ReadDeleteRange(ReadOnlySequence<byte> body, out DeleteRangeRequest request)
    {
        byte[] key = [], rangeEnd = [];
        var prevKv = false;
        var error = ReadObject(body, "etcdserverpb.DeleteRangeRequest", (ref Utf8JsonReader r) =>
            Is(ref r, "key"u8) ? ReadBytes(ref r, ref key)
            : Is(ref r, "range_end"u8, "rangeEnd"u8) ? ReadBytes(ref r, ref rangeEnd)
            : Is(ref r, "prev_kv"u8, "prevKv"u8) ? ReadBool(ref r, ref prevKv)
            : Skip(ref r));
        request = new DeleteRangeRequest(key, rangeEnd, prevKv);
        return error;
    }

    /// <summary>Reads a MemberAddRequest body.</summary>
    public static EtcdError? ReadMemberAdd(ReadOnlySequence<byte> body, out MemberAddRequest request)
    {
        var urls = new List<string>();
        var isLearner = false;
        var error = ReadObject(body, "etcdserverpb.MemberAddRequest", (ref Utf8JsonReader r) =>
            Is(ref r, "peerURLs"u8) ? ReadStrings(ref r, urls)
            : Is(ref r, "isLearner"u8) ? ReadBool(ref r, ref isLearner)
            : Skip(ref r));
        request = new MemberAddRequest(urls, isLearner);
        return error;
    }

    /// <summary>Reads a MemberRemoveRequest or MemberPromoteRequest body.</summary>
    public static EtcdError? ReadMemberId(ReadOnlySequence<byte> body, string goType, out MemberIdRequest request)
    {
        ulong id = 0;
        var error = ReadObject(body, goType, (ref Utf8JsonReader r) =>
            Is(ref r, "ID"u8) ? ReadUInt64(ref r, ref id) : Skip(ref r));
        request = new MemberIdRequest(id);
        return error;
    }

    /// <summary>Reads a MemberListRequest body.</summary>
    public static EtcdError? ReadMemberList(ReadOnlySequence<byte> body, out MemberListRequest request)
    {
        var linearizable = false;
        var error = ReadObject(body, "etcdserverpb.MemberListRequest", (ref Utf8JsonReader r) =>
            Is(ref r, "linearizable"u8) ? ReadBool(ref r, ref linearizable) : Skip(ref r));
        request = new MemberListRequest(linearizable);
        return error;
    }

    /// <summary>Reads a body whose fields are all ignored (e.g. StatusRequest), checking only that it is JSON.</summary>
    public static EtcdError? ReadEmpty(ReadOnlySequence<byte> body, string goType) =>
        ReadObject(body, goType, (ref Utf8JsonReader r) => Skip(ref r));

    private static bool Is(ref Utf8JsonReader r, ReadOnlySpan<byte> name) => r.ValueTextEquals(name);

    private static bool Is(ref Utf8JsonReader r, ReadOnlySpan<byte> protoName, ReadOnlySpan<byte> jsonName) =>
        r.ValueTextEquals(protoName) || r.ValueTextEquals(jsonName);

    private static EtcdError? ReadObject(ReadOnlySequence<byte> body, string goType, FieldReader field)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 64 });
        try
        {
            if (IsBlank(body)) return null; // Go's decoder sees io.EOF, which the gateway treats as an empty request
            reader.Read();
            switch (reader.TokenType)
            {
                case JsonTokenType.Null:
                    return null;
                case JsonTokenType.StartObject:
                    break;
                default:
                    return TypeMismatch(reader.TokenType, goType);
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (field(ref reader) is { } error) return error;
            }
            return null;
        }
        catch (JsonException)
        {
            return EtcdError.BadRequest(IsTruncated(body) ? "unexpected EOF" : $"invalid character at input byte {FirstBadByte(body, reader.BytesConsumed)}");
        }
    }

    private static bool IsBlank(ReadOnlySequence<byte> body)
    {
        foreach (var segment in body)
        {
            foreach (var b in segment.Span)
            {
                if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')) return false;
            }
        }
        return true;
    }

    // A body that is valid JSON so far but ends inside a value is Go's "unexpected EOF".
    private static bool IsTruncated(ReadOnlySequence<byte> body)
    {
        var reader = new Utf8JsonReader(body, isFinalBlock: false, state: default);
        try
        {
            while (reader.Read())
            {
                if (reader.CurrentDepth == 0 && reader.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray) return false;
            }
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static long FirstBadByte(ReadOnlySequence<byte> body, long from)
    {
        var rest = body.Slice(Math.Min(from, body.Length));
        var offset = from;
        foreach (var segment in rest)
        {
            foreach (var b in segment.Span)
            {
                if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n' or (byte)',' or (byte)':')) return offset;
                offset++;
            }
        }
        return offset;
    }

    private static string GoKind(JsonTokenType t) => t switch
    {
        JsonTokenType.String => "string",
        JsonTokenType.Number => "number",
        JsonTokenType.True or JsonTokenType.False => "bool",
        JsonTokenType.StartArray => "array",
        JsonTokenType.StartObject => "object",
        _ => "value",
    };

    private static EtcdError TypeMismatch(JsonTokenType t, string goType) =>
        EtcdError.BadRequest($"json: cannot unmarshal {GoKind(t)} into Go value of type {goType}");

    private static EtcdError? Skip(ref Utf8JsonReader r)
    {
        r.Read();
        r.Skip();
        return null;
    }

    private static EtcdError? ReadBytes(ref Utf8JsonReader r, ref byte[] value)
    {
        r.Read();
        if (r.TokenType == JsonTokenType.Null)
        {
            value = [];
            return null;
        }
        if (r.TokenType != JsonTokenType.String)
        {
            var error = TypeMismatch(r.TokenType, "[]uint8");
            r.Skip();
            return error;
        }
        var text = UnescapedBytes(ref r);
        var decoded = GoBase64.Decode(text, out var offset);
        if (decoded is null) return EtcdError.BadRequest($"illegal base64 data at input byte {offset}");
        value = decoded;
        return null;
    }

    private static ReadOnlySpan<byte> UnescapedBytes(ref Utf8JsonReader r)
    {
        if (!r.ValueIsEscaped && !r.HasValueSequence) return r.ValueSpan;
        var length = r.HasValueSequence ? checked((int)r.ValueSequence.Length) : r.ValueSpan.Length;
        var buffer = new byte[length];
        var written = r.CopyString(buffer);
        return buffer.AsSpan(0, written);
    }

    private static EtcdError? ReadBool(ref Utf8JsonReader r, ref bool value)
    {
        r.Read();
        switch (r.TokenType)
        {
            case JsonTokenType.True:
                value = true;
                return null;
            case JsonTokenType.False:
            case JsonTokenType.Null:
                value = false;
                return null;
            default:
                var error = TypeMismatch(r.TokenType, "bool");
                r.Skip();
                return error;
        }
    }

    private static EtcdError? ReadInt64(ref Utf8JsonReader r, ref long value)
    {
        r.Read();
        switch (r.TokenType)
        {
            case JsonTokenType.Null:
                value = 0;
                return null;
            case JsonTokenType.Number when r.TryGetInt64(out value):
                return null;
            case JsonTokenType.String when Utf8Parser.TryParse(UnescapedBytes(ref r), out long parsed, out var used) && used == UnescapedBytes(ref r).Length:
                value = parsed;
                return null;
            default:
                var error = TypeMismatch(r.TokenType, "int64");
                r.Skip();
                return error;
        }
    }

    // A filter field: only whether any is non-zero matters.
    private static EtcdError? ReadInt64Or(ref Utf8JsonReader r, ref long accumulated)
    {
        long v = 0;
        var error = ReadInt64(ref r, ref v);
        accumulated |= v;
        return error;
    }

    private static EtcdError? ReadUInt64(ref Utf8JsonReader r, ref ulong value)
    {
        r.Read();
        switch (r.TokenType)
        {
            case JsonTokenType.Null:
                value = 0;
                return null;
            case JsonTokenType.Number when r.TryGetUInt64(out value):
                return null;
            case JsonTokenType.String when Utf8Parser.TryParse(UnescapedBytes(ref r), out ulong parsed, out var used) && used == UnescapedBytes(ref r).Length:
                value = parsed;
                return null;
            default:
                var error = TypeMismatch(r.TokenType, "uint64");
                r.Skip();
                return error;
        }
    }

    // An enum by name (as jsonpb writes it) or by number.
    private static EtcdError? ReadEnum(ref Utf8JsonReader r, ref long value, params string[] names)
    {
        r.Read();
        switch (r.TokenType)
        {
            case JsonTokenType.Null:
                value = 0;
                return null;
            case JsonTokenType.Number when r.TryGetInt64(out value):
                return null;
            case JsonTokenType.String:
                var name = Encoding.UTF8.GetString(UnescapedBytes(ref r));
                var index = Array.IndexOf(names, name);
                if (index >= 0)
                {
                    value = index;
                    return null;
                }
                return EtcdError.BadRequest($"unknown value \"{name}\" for enum");
            default:
                var error = TypeMismatch(r.TokenType, "int32");
                r.Skip();
                return error;
        }
    }

    private static EtcdError? ReadStrings(ref Utf8JsonReader r, List<string> into)
    {
        into.Clear();
        r.Read();
        if (r.TokenType == JsonTokenType.Null) return null;
        if (r.TokenType != JsonTokenType.StartArray)
        {
            var error = TypeMismatch(r.TokenType, "[]string");
            r.Skip();
            return error;
        }
        while (r.Read() && r.TokenType != JsonTokenType.EndArray)
        {
            if (r.TokenType != JsonTokenType.String)
            {
                var error = TypeMismatch(r.TokenType, "string");
                r.Skip();
                return error;
            }
            into.Add(r.GetString()!);
        }
        return null;
    }
}
