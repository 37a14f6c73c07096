using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Http;

/// <summary>
/// Reads request bodies as etcd's JSON gateway does (grpc-gateway v1 with golang/protobuf's jsonpb):
/// the body's first JSON value must be an object (or null, or nothing: an empty request); a field is
/// found by its proto name or its lowerCamelCase JSON name (the camel one wins when both are given);
/// unknown fields are ignored; fields are decoded in field-number order, so the first bad field by
/// number is the one reported; bytes are standard base64; 64-bit integers are numbers or strings;
/// null leaves a field at zero. Errors carry the gateway's messages (Go's encoding/json,
/// encoding/base64 and jsonpb texts, as etcd 3.4 prints them).
/// </summary>
public static partial class GatewayJsonReader
{
    private const string MapType = "map[string]json.RawMessage";

    /// <summary>Where one field's value starts in the body, and what kind of token it is.</summary>
    private readonly record struct ValueRef(int Offset, JsonTokenType Kind);

    /// <summary>The fields found in a body, by the index of their names in the request's field list.</summary>
    private sealed class Fields(ReadOnlyMemory<byte> json, ValueRef?[] values)
    {
        public ReadOnlyMemory<byte> Json { get; } = json;

        public ValueRef? this[int field] => values[field];

        /// <summary>A reader positioned on field <paramref name="at"/>'s value token.</summary>
        public Utf8JsonReader ReaderAt(ValueRef at)
        {
            var reader = new Utf8JsonReader(Json.Span[at.Offset..], isFinalBlock: true, state: default);
            reader.Read();
            return reader;
        }
    }

    /// <summary>
    /// Stage one: checks the body's syntax and notes where each known field's value is, as jsonpb first
    /// decodes the body into map[string]json.RawMessage.
    /// </summary>
    private static EtcdError? Scan(ReadOnlySequence<byte> body, (string Proto, string Camel)[] names, out Fields fields)
    {
        var json = body.IsSingleSegment ? body.First : body.ToArray();
        var found = new ValueRef?[names.Length];
        var fromCamel = new bool[names.Length];
        fields = new Fields(json, found);
        if (IsBlank(json.Span)) return null; // the decoder sees io.EOF, which the gateway treats as an empty request

        var reader = new Utf8JsonReader(json.Span, new JsonReaderOptions { MaxDepth = 1000 });
        try
        {
            reader.Read();
            if (reader.TokenType == JsonTokenType.Null) return null;
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                var kind = reader.TokenType;
                reader.Skip();
                return TypeMismatch(KindOf(kind), MapType);
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var field = -1;
                var camel = false;
                for (var i = 0; i < names.Length && field < 0; i++)
                {
                    if (reader.ValueTextEquals(names[i].Camel))
                    {
                        (field, camel) = (i, true);
                    }
                    else if (reader.ValueTextEquals(names[i].Proto))
                    {
                        field = i;
                    }
                }
                reader.Read();
                if (field >= 0 && (camel || !fromCamel[field]))
                {
                    found[field] = new ValueRef(checked((int)reader.TokenStartIndex), reader.TokenType);
                    fromCamel[field] = camel;
                }
                reader.Skip();
            }
            return null;
        }
        catch (JsonException)
        {
            return EtcdError.BadRequest(GoJsonSyntax.FirstError(json.Span, wholeInput: false) ?? "invalid JSON");
        }
    }

    private static bool IsBlank(ReadOnlySpan<byte> json)
    {
        foreach (var b in json)
        {
            if (!IsSpace(b)) return false;
        }
        return true;
    }

    private static bool IsSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';

    /// <summary>Reads a PutRequest body.</summary>
    public static EtcdError? ReadPut(ReadOnlySequence<byte> body, out PutRequest request)
    {
        request = new PutRequest(default, default);
        var error = Scan(body, [("key", "key"), ("value", "value"), ("lease", "lease"), ("prev_kv", "prevKv"), ("ignore_value", "ignoreValue"), ("ignore_lease", "ignoreLease")], out var f);
        byte[] key = [], value = [];
        long lease = 0;
        bool prevKv = false, ignoreValue = false, ignoreLease = false;
        error ??= Bytes(f, 0, ref key) ?? Bytes(f, 1, ref value) ?? Int64(f, 2, ref lease)
            ?? Bool(f, 3, ref prevKv) ?? Bool(f, 4, ref ignoreValue) ?? Bool(f, 5, ref ignoreLease);
        if (error is not null) return error;
        request = new PutRequest(key, value, prevKv, lease, ignoreLease, ignoreValue);
        return null;
    }

    /// <summary>Reads a RangeRequest body.</summary>
    public static EtcdError? ReadRange(ReadOnlySequence<byte> body, out RangeRequest request)
    {
        request = new RangeRequest(default);
        var error = Scan(body,
            [("key", "key"), ("range_end", "rangeEnd"), ("limit", "limit"), ("revision", "revision"), ("sort_order", "sortOrder"),
             ("sort_target", "sortTarget"), ("serializable", "serializable"), ("keys_only", "keysOnly"), ("count_only", "countOnly"),
             ("min_mod_revision", "minModRevision"), ("max_mod_revision", "maxModRevision"),
             ("min_create_revision", "minCreateRevision"), ("max_create_revision", "maxCreateRevision")], out var f);
        byte[] key = [], rangeEnd = [];
        long limit = 0, revision = 0, sortOrder = 0, sortTarget = 0, minMod = 0, maxMod = 0, minCreate = 0, maxCreate = 0;
        bool serializable = false, keysOnly = false, countOnly = false;
        error ??= Bytes(f, 0, ref key) ?? Bytes(f, 1, ref rangeEnd) ?? Int64(f, 2, ref limit) ?? Int64(f, 3, ref revision)
            ?? Enum(f, 4, ref sortOrder, "etcdserverpb.RangeRequest_SortOrder", "NONE", "ASCEND", "DESCEND")
            ?? Enum(f, 5, ref sortTarget, "etcdserverpb.RangeRequest_SortTarget", "KEY", "VERSION", "CREATE", "MOD", "VALUE")
            ?? Bool(f, 6, ref serializable) ?? Bool(f, 7, ref keysOnly) ?? Bool(f, 8, ref countOnly)
            ?? Int64(f, 9, ref minMod) ?? Int64(f, 10, ref maxMod) ?? Int64(f, 11, ref minCreate) ?? Int64(f, 12, ref maxCreate);
        if (error is not null) return error;
        request = new RangeRequest(key, rangeEnd, limit, revision, countOnly, keysOnly, serializable,
            (RangeSortOrder)sortOrder, (RangeSortTarget)sortTarget, minMod, maxMod, minCreate, maxCreate);
        return null;
    }

    /// <summary>Reads a DeleteRangeRequest body.</summary>
    public static EtcdError? ReadDeleteRange(ReadOnlySequence<byte> body, out DeleteRangeRequest request)
    {
        request = new DeleteRangeRequest(default);
        var error = Scan(body, [("key", "key"), ("range_end", "rangeEnd"), ("prev_kv", "prevKv")], out var f);
        byte[] key = [], rangeEnd = [];
        var prevKv = false;
        error ??= Bytes(f, 0, ref key) ?? Bytes(f, 1, ref rangeEnd) ?? Bool(f, 2, ref prevKv);
        if (error is not null) return error;
        request = new DeleteRangeRequest(key, rangeEnd, prevKv);
        return null;
    }

    /// <summary>Reads a MemberAddRequest body.</summary>
    public static EtcdError? ReadMemberAdd(ReadOnlySequence<byte> body, out MemberAddRequest request)
    {
        request = new MemberAddRequest([], false);
        var error = Scan(body, [("peerURLs", "peerURLs"), ("isLearner", "isLearner")], out var f);
        var urls = new List<string>();
        var isLearner = false;
        error ??= Strings(f, 0, urls) ?? Bool(f, 1, ref isLearner);
        if (error is not null) return error;
        request = new MemberAddRequest(urls, isLearner);
        return null;
    }

    /// <summary>Reads a MemberRemoveRequest or MemberPromoteRequest body.</summary>
    public static EtcdError? ReadMemberId(ReadOnlySequence<byte> body, out MemberIdRequest request)
    {
        request = new MemberIdRequest(0);
        var error = Scan(body, [("ID", "ID")], out var f);
        ulong id = 0;
        error ??= UInt64(f, 0, ref id);
        if (error is not null) return error;
        request = new MemberIdRequest(id);
        return null;
    }

    /// <summary>Reads a MemberUpdateRequest body.</summary>
    public static EtcdError? ReadMemberUpdate(ReadOnlySequence<byte> body, out MemberUpdateRequest request)
    {
        request = new MemberUpdateRequest(0, []);
        var error = Scan(body, [("ID", "ID"), ("peerURLs", "peerURLs")], out var f);
        ulong id = 0;
        var urls = new List<string>();
        error ??= UInt64(f, 0, ref id) ?? Strings(f, 1, urls);
        if (error is not null) return error;
        request = new MemberUpdateRequest(id, urls);
        return null;
    }

    /// <summary>Reads a MemberListRequest body.</summary>
    public static EtcdError? ReadMemberList(ReadOnlySequence<byte> body, out MemberListRequest request)
    {
        request = new MemberListRequest(false);
        var error = Scan(body, [("linearizable", "linearizable")], out var f);
        var linearizable = false;
        error ??= Bool(f, 0, ref linearizable);
        if (error is not null) return error;
        request = new MemberListRequest(linearizable);
        return null;
    }

    /// <summary>Reads a body whose fields are all ignored (e.g. StatusRequest): only its syntax matters.</summary>
    public static EtcdError? ReadEmpty(ReadOnlySequence<byte> body) => Scan(body, [], out _);

    private static string KindOf(JsonTokenType t) => t switch
    {
        JsonTokenType.String => "string",
        JsonTokenType.Number => "number",
        JsonTokenType.True or JsonTokenType.False => "bool",
        JsonTokenType.StartArray => "array",
        JsonTokenType.StartObject => "object",
        _ => "null",
    };

    private static EtcdError TypeMismatch(string kind, string goType) =>
        EtcdError.BadRequest($"json: cannot unmarshal {kind} into Go value of type {goType}");

    private static byte[] Unescaped(ref Utf8JsonReader r)
    {
        if (!r.ValueIsEscaped) return r.ValueSpan.ToArray();
        var buffer = new byte[r.ValueSpan.Length];
        return buffer.AsSpan(0, r.CopyString(buffer)).ToArray();
    }

    // bytes: base64 from a string; Go also decodes an array of small numbers into []byte.
    private static EtcdError? Bytes(Fields f, int field, ref byte[] value)
    {
        if (f[field] is not { } at) return null;
        var r = f.ReaderAt(at);
        switch (r.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.String:
            {
                var text = r.ValueIsEscaped ? Unescaped(ref r) : null;
                var decoded = GoBase64.Decode(text ?? r.ValueSpan, out var offset);
                if (decoded is null) return EtcdError.BadRequest($"illegal base64 data at input byte {offset}");
                value = decoded;
                return null;
            }
            case JsonTokenType.StartArray:
            {
                var bytes = new List<byte>();
                while (r.Read() && r.TokenType != JsonTokenType.EndArray)
                {
                    if (r.TokenType == JsonTokenType.Null)
                    {
                        bytes.Add(0);
                        continue;
                    }
                    if (r.TokenType != JsonTokenType.Number) return TypeMismatch(KindOf(r.TokenType), "uint8");
                    if (!r.TryGetByte(out var b)) return TypeMismatch("number " + GoJsonSyntax.Text(r.ValueSpan), "uint8");
                    bytes.Add(b);
                }
                value = bytes.ToArray();
                return null;
            }
            default:
                return TypeMismatch(KindOf(r.TokenType), "[]uint8");
        }
    }

    private static EtcdError? Bool(Fields f, int field, ref bool value)
    {
        if (f[field] is not { } at) return null;
        switch (at.Kind)
        {
            case JsonTokenType.True:
                value = true;
                return null;
            case JsonTokenType.False:
                value = false;
                return null;
            case JsonTokenType.Null:
                return null;
            default:
                return TypeMismatch(KindOf(at.Kind), "bool");
        }
    }

    /// <summary>
    /// A 64-bit integer as jsonpb reads one: a string has its quotes dropped (nothing unescaped) and
    /// the rest is parsed as JSON, like a bare value, by json.Unmarshal.
    /// </summary>
    private static EtcdError? Integer(Fields f, int field, string goType, bool signed, out long signedValue, out ulong unsignedValue)
    {
        signedValue = 0;
        unsignedValue = 0;
        if (f[field] is not { } at) return null;
        var r = f.ReaderAt(at);
        var raw = r.TokenType switch
        {
            JsonTokenType.String => r.ValueSpan,
            JsonTokenType.Number or JsonTokenType.True or JsonTokenType.False or JsonTokenType.Null => r.ValueSpan,
            _ => default,
        };
        if (r.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray) return TypeMismatch(KindOf(r.TokenType), goType);
        if (GoJsonSyntax.FirstError(raw, wholeInput: true) is { } syntax) return EtcdError.BadRequest(syntax);
        var text = Trim(raw);
        switch (text[0])
        {
            case (byte)'n':
                return null;
            case (byte)'t' or (byte)'f':
                return TypeMismatch("bool", goType);
            case (byte)'"':
                return TypeMismatch("string", goType);
            case (byte)'{':
                return TypeMismatch("object", goType);
            case (byte)'[':
                return TypeMismatch("array", goType);
        }
        var ok = signed
            ? Utf8Parser.TryParse(text, out signedValue, out var used) && used == text.Length
            : Utf8Parser.TryParse(text, out unsignedValue, out used) && used == text.Length;
        return ok ? null : TypeMismatch("number " + GoJsonSyntax.Text(text), goType);
    }

    private static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> s)
    {
        var start = 0;
        var end = s.Length;
        while (start < end && IsSpace(s[start])) start++;
        while (end > start && IsSpace(s[end - 1])) end--;
        return s[start..end];
    }

    private static EtcdError? Int64(Fields f, int field, ref long value)
    {
        var error = Integer(f, field, "int64", signed: true, out var v, out _);
        if (error is null && f[field] is not null) value = v;
        return error;
    }

    private static EtcdError? UInt64(Fields f, int field, ref ulong value)
    {
        var error = Integer(f, field, "uint64", signed: false, out _, out var v);
        if (error is null && f[field] is not null) value = v;
        return error;
    }

    // An enum by name (as jsonpb writes it) or by number.
    private static EtcdError? Enum(Fields f, int field, ref long value, string goType, params string[] names)
    {
        if (f[field] is not { } at) return null;
        var r = f.ReaderAt(at);
        switch (r.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.String:
            {
                var name = Encoding.UTF8.GetString(Unescaped(ref r));
                var index = Array.IndexOf(names, name);
                if (index < 0) return EtcdError.BadRequest($"unknown value {GoQuote(name)} for enum {goType}");
                value = index;
                return null;
            }
            case JsonTokenType.Number:
                if (r.TryGetInt32(out var number))
                {
                    value = number;
                    return null;
                }
                return TypeMismatch("number " + GoJsonSyntax.Text(r.ValueSpan), goType);
            default:
                return TypeMismatch(KindOf(r.TokenType), goType);
        }
    }

    private static string GoQuote(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    // repeated string: jsonpb reads the array as []json.RawMessage, then each element as a string.
    // Go's decoder replaces invalid UTF-8 in a string with U+FFFD where .NET's GetString throws
    // (found by fuzzing a member-add body); an escaped string is unescaped first, as Go does.
    private static string GoString(ref Utf8JsonReader r)
    {
        var raw = r.HasValueSequence ? r.ValueSequence.ToArray() : r.ValueSpan.ToArray();
        if (!r.ValueIsEscaped) return Encoding.UTF8.GetString(raw);
        try
        {
            return r.GetString()!;
        }
        catch (InvalidOperationException)
        {
            // Escapes and invalid UTF-8 together: kept escaped, which no URL check accepts.
            return Encoding.UTF8.GetString(raw);
        }
    }

    private static EtcdError? Strings(Fields f, int field, List<string> into)
    {
        if (f[field] is not { } at) return null;
        var r = f.ReaderAt(at);
        if (r.TokenType == JsonTokenType.Null) return null;
        if (r.TokenType != JsonTokenType.StartArray) return TypeMismatch(KindOf(r.TokenType), "[]json.RawMessage");
        while (r.Read() && r.TokenType != JsonTokenType.EndArray)
        {
            switch (r.TokenType)
            {
                case JsonTokenType.String:
                    into.Add(GoString(ref r));
                    break;
                case JsonTokenType.Null:
                    into.Add("");
                    break;
                default:
                    return TypeMismatch(KindOf(r.TokenType), "string");
            }
        }
        return null;
    }
}
