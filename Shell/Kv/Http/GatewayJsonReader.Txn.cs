using System.Buffers;
using System.Text.Json;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Http;

/// <summary>The txn and compaction bodies: nested messages are read by the same rules as a whole body.</summary>
public static partial class GatewayJsonReader
{
    /// <summary>Reads a CompactionRequest body.</summary>
    public static EtcdError? ReadCompaction(ReadOnlySequence<byte> body, out CompactionRequest request)
    {
        request = new CompactionRequest(0);
        var error = Scan(body, [("revision", "revision"), ("physical", "physical")], out var f);
        long revision = 0;
        var physical = false;
        error ??= Int64(f, 0, ref revision) ?? Bool(f, 1, ref physical);
        if (error is not null) return error;
        request = new CompactionRequest(revision, physical);
        return null;
    }

    /// <summary>Reads an AlarmRequest body.</summary>
    public static EtcdError? ReadAlarm(ReadOnlySequence<byte> body, out AlarmRequest request)
    {
        request = new AlarmRequest(AlarmAction.Get, 0, AlarmType.None);
        var error = Scan(body, [("action", "action"), ("memberID", "memberID"), ("alarm", "alarm")], out var f);
        long action = 0, alarm = 0;
        ulong member = 0;
        error ??= Enum(f, 0, ref action, "etcdserverpb.AlarmRequest_AlarmAction", "GET", "ACTIVATE", "DEACTIVATE")
            ?? UInt64(f, 1, ref member) ?? Enum(f, 2, ref alarm, "etcdserverpb.AlarmType", "NONE", "NOSPACE", "CORRUPT");
        if (error is not null) return error;
        request = new AlarmRequest((AlarmAction)action, member, (AlarmType)alarm);
        return null;
    }

    /// <summary>Reads a TxnRequest body (compare, success and failure, with nested txns).</summary>
    public static EtcdError? ReadTxn(ReadOnlySequence<byte> body, out TxnRequest request)
    {
        request = new TxnRequest([], [], []);
        var error = Scan(body, [("compare", "compare"), ("success", "success"), ("failure", "failure")], out var f);
        var compares = new List<Compare>();
        var success = new List<IKvRequest>();
        var failure = new List<IKvRequest>();
        error ??= Messages(f, 0, "etcdserverpb.Compare", compares, (ReadOnlySequence<byte> m, out Compare c) => ReadCompare(m, out c))
            ?? Messages(f, 1, "etcdserverpb.RequestOp", success, ReadRequestOp)
            ?? Messages(f, 2, "etcdserverpb.RequestOp", failure, ReadRequestOp);
        if (error is not null) return error;
        request = new TxnRequest(compares, success, failure);
        return null;
    }

    private static EtcdError? ReadCompare(ReadOnlySequence<byte> body, out Compare compare)
    {
        compare = new Compare(CompareResult.Equal, CompareTarget.Version, default);
        var error = Scan(body,
            [("result", "result"), ("target", "target"), ("key", "key"), ("version", "version"), ("create_revision", "createRevision"),
             ("mod_revision", "modRevision"), ("value", "value"), ("lease", "lease"), ("range_end", "rangeEnd")], out var f);
        long result = 0, target = 0, version = 0, create = 0, mod = 0, lease = 0;
        byte[] key = [], value = [], rangeEnd = [];
        error ??= Enum(f, 0, ref result, "etcdserverpb.Compare_CompareResult", "EQUAL", "GREATER", "LESS", "NOT_EQUAL")
            ?? Enum(f, 1, ref target, "etcdserverpb.Compare_CompareTarget", "VERSION", "CREATE", "MOD", "VALUE", "LEASE")
            ?? Bytes(f, 2, ref key) ?? Int64(f, 3, ref version) ?? Int64(f, 4, ref create) ?? Int64(f, 5, ref mod)
            ?? Bytes(f, 6, ref value) ?? Int64(f, 7, ref lease) ?? Bytes(f, 8, ref rangeEnd);
        if (error is not null) return error;
        // The oneof's case is the field that was given (the last one, as jsonpb sets them in turn).
        (CompareTarget? union, long number) = (null, 0);
        if (Given(f, 3)) (union, number) = (CompareTarget.Version, version);
        if (Given(f, 4)) (union, number) = (CompareTarget.Create, create);
        if (Given(f, 5)) (union, number) = (CompareTarget.Mod, mod);
        if (Given(f, 6)) (union, number) = (CompareTarget.Value, 0);
        if (Given(f, 7)) (union, number) = (CompareTarget.Lease, lease);
        compare = new Compare((CompareResult)result, (CompareTarget)target, key, rangeEnd, union, number, value);
        return null;
    }

    private static bool Given(Fields f, int field) => f[field] is { Kind: not JsonTokenType.Null };

    private static EtcdError? ReadRequestOp(ReadOnlySequence<byte> body, out IKvRequest op)
    {
        op = new RangeRequest(default);
        var error = Scan(body,
            [("request_range", "requestRange"), ("request_put", "requestPut"), ("request_delete_range", "requestDeleteRange"), ("request_txn", "requestTxn")], out var f);
        if (error is not null) return error;
        for (var i = 0; i < 4; i++)
        {
            if (!Given(f, i)) continue;
            var raw = new ReadOnlySequence<byte>(Raw(f, i));
            EtcdError? e;
            switch (i)
            {
                case 0:
                    e = ReadRange(raw, out var r);
                    op = r;
                    break;
                case 1:
                    e = ReadPut(raw, out var p);
                    op = p;
                    break;
                case 2:
                    e = ReadDeleteRange(raw, out var d);
                    op = d;
                    break;
                default:
                    e = ReadTxn(raw, out var t);
                    op = t;
                    break;
            }
            if (e is not null) return e;
        }
        return null;
    }

    /// <summary>The JSON text of field <paramref name="field"/>'s value.</summary>
    private static ReadOnlyMemory<byte> Raw(Fields f, int field)
    {
        var at = f[field]!.Value;
        var r = f.ReaderAt(at);
        r.Skip();
        return f.Json.Slice(at.Offset, (int)r.BytesConsumed);
    }

    private delegate EtcdError? MessageParser<T>(ReadOnlySequence<byte> body, out T message);

    // repeated message: an array whose elements are each read as a body of their own.
    private static EtcdError? Messages<T>(Fields f, int field, string goType, List<T> into, MessageParser<T> parse)
    {
        if (f[field] is not { } at) return null;
        if (at.Kind == JsonTokenType.Null) return null;
        if (at.Kind != JsonTokenType.StartArray) return TypeMismatch(KindOf(at.Kind), "[]*" + goType);
        var r = f.ReaderAt(at);
        while (r.Read() && r.TokenType != JsonTokenType.EndArray)
        {
            var start = (int)r.TokenStartIndex;
            r.Skip();
            var element = f.Json.Slice(at.Offset + start, (int)r.BytesConsumed - start);
            var error = parse(new ReadOnlySequence<byte>(element), out var message);
            if (error is not null) return error;
            into.Add(message);
        }
        return null;
    }
}
