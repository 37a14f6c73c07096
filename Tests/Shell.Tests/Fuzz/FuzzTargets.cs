using System.Buffers;
using System.Text;
using Microsoft.FSharp.Collections;
using Raft.Core;
using Raft.Interop.Wire;
using Raft.Kv;
using Raft.Kv.Codec;
using Raft.Kv.Http;
using Raft.Kv.Mvcc;
using Raft.Cli;
using Raft.Shell.Snap;
using Raft.Shell.Transport;
using Raft.Shell.Wal;

namespace Raft.Shell.Tests.Fuzz;

/// <summary>
/// Every decoder that reads bytes from outside the process, called as the node calls it, each with
/// seeds made by our own encoders. The gRPC services' messages are decoded by Google.Protobuf's
/// generated parsers; the raftpb and InternalRaftRequest targets drive the same parser code.
/// </summary>
internal static class FuzzTargets
{
    private const string WalDir = "/fuzz/wal";
    private static readonly int MaxFrameSize = new PeerTransportOptions().MaxFrameSize;
    private const string SnapPath = "/fuzz/snap/0000000000000001-0000000000000005.snap";

    /// <summary>All targets, by name.</summary>
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new("wal", WalSeeds, WalRead, typeof(WalException)) { CiInputs = 1000 },
        new("snap", SnapSeeds, SnapRead, typeof(SnapshotException)),
        new("peer-hello", HelloSeeds, HelloRead),
        new("peer-frames", FrameSeeds, FramesRead, typeof(WireFormatException)),
        new("raftpb-entry", EntrySeeds, b => RaftpbMarshal.UnmarshalEntry(b), typeof(WireFormatException)),
        new("raftpb-snapshot", SnapshotSeeds, b => RaftpbMarshal.UnmarshalSnapshot(b), typeof(WireFormatException)),
        new("raftpb-confchange", ConfChangeSeeds, ConfChangeRead, typeof(WireFormatException)),
        new("kv-command", CommandSeeds, b => KvCommandCodec.Decode(b)),
        new("kv-snapshot", KvSnapshotSeeds, b => KvSnapshotCodec.Decode(b), typeof(InvalidDataException)),
        new("grpc-requests", GrpcSeeds, GrpcRead, typeof(global::Grpc.Core.RpcException), typeof(Google.Protobuf.InvalidProtocolBufferException)),
        new("gateway-json", GatewaySeeds, GatewayRead),
        new("gateway-watch", WatchBodySeeds, WatchBodyRead, typeof(Google.Protobuf.InvalidProtocolBufferException), typeof(Google.Protobuf.InvalidJsonException), typeof(System.Text.Json.JsonException)),
        new("client-url", ClientUrlSeeds, ClientUrlRead, typeof(ArgumentException)),
        new("go-base64", Base64Seeds, b => GoBase64.Decode(b, out _)),
        new("peer-url", UrlSeeds, b => PeerUrl.Parse(Encoding.UTF8.GetString(b)), typeof(FormatException)),
        new("cli-flags", FlagSeeds, FlagsRead) { CiInputs = 300 },
    ];

    private static FSharpList<ulong> Ids(params ulong[] ids) => ListModule.OfSeq(ids);

    private static ConfState Conf => new(Ids(1, 2, 3), Ids(4), Ids(), Ids(), false);

    private static Entry[] Entries =>
    [
        new(1, 1, EntryType.EntryNormal, []),
        new(1, 2, EntryType.EntryNormal, Encoding.UTF8.GetBytes("put k v")),
        new(2, 3, EntryType.EntryConfChange, RaftpbMarshal.Marshal(new ConfChange(7, ConfChangeType.ConfChangeAddNode, 4, [1, 2]))),
    ];

    private static Snapshot Snap => new([1, 2, 3, 4, 5], new SnapshotMetadata(Conf, 5, 1));

    private static Message[] Messages =>
    [
        new(MessageType.MsgApp, 2, 1, 5, 4, 10, Entries, 9, new Snapshot([], new SnapshotMetadata(new ConfState(Ids(), Ids(), Ids(), Ids(), false), 0, 0)), false, 0, []),
        new(MessageType.MsgSnap, 2, 1, 5, 0, 0, [], 0, Snap, false, 0, []),
        new(MessageType.MsgHeartbeat, 3, 1, 7, 0, 0, [], 4, new Snapshot([], new SnapshotMetadata(new ConfState(Ids(), Ids(), Ids(), Ids(), false), 0, 0)), false, 0, [9, 9]),
    ];

    private static IReadOnlyList<byte[]> WalSeeds()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"raft-fuzz-wal-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (var w = Raft.Shell.Wal.Wal.Create(dir, Encoding.UTF8.GetBytes("metadata")))
            {
                w.Save(new HardState(1, 1, 1), Entries[..2]);
                w.SaveSnapshot(new WalSnapshot(2, 1, Conf));
                w.Save(new HardState(2, 1, 3), Entries[2..]);
            }
            var file = Directory.GetFiles(dir, "*.wal").Single();
            var bytes = File.ReadAllBytes(file);
            // The segment is preallocated with zeros; the written part rounded up to a frame is the seed.
            var end = (Array.FindLastIndex(bytes, b => b != 0) + 1 + 7) & ~7;
            var seed = bytes[..end];
            // A seed that is cut inside its last sector, a torn tail.
            return [seed, bytes[..(end + 600)], seed[..(seed.Length - 5)]];
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private static void WalRead(byte[] segment)
    {
        var fs = new MemoryFiles(new Dictionary<string, byte[]> { [Path.Combine(WalDir, WalNames.Format(0, 0))] = segment });
        using var w = Raft.Shell.Wal.Wal.OpenForRead(WalDir, WalSnapshot.Empty, new WalOptions { FileSystem = fs });
        w.ReadAll();
    }

    private static IReadOnlyList<byte[]> SnapSeeds() =>
        [Snapshotter.FilePieces(Snap).SelectMany(p => p.ToArray()).ToArray()];

    private static void SnapRead(byte[] file) =>
        Snapshotter.Read(new MemoryFiles(new Dictionary<string, byte[]> { [SnapPath] = file }), SnapPath);

    private static IReadOnlyList<byte[]> HelloSeeds()
    {
        var hello = new byte[Handshake.HelloSize];
        Handshake.WriteHello(hello, new Hello(Handshake.ProtocolVersion, ConnectionKind.Messages, 0x1234, 1, 2));
        var reply = new byte[Handshake.ReplySize];
        Handshake.WriteReply(reply, new HelloReply(Handshake.ProtocolVersion, HandshakeCode.Accepted, 0x1234, 2));
        return [hello, reply];
    }

    // The listener and the dialer read exactly a hello's or a reply's size before decoding; a shorter read is refused earlier.
    private static void HelloRead(byte[] b)
    {
        if (b.Length >= Handshake.HelloSize && Handshake.ReadHello(b.AsSpan(0, Handshake.HelloSize), out _) is { } h)
            _ = $"{h.Kind} {TransportLog.Id(h.From)} {TransportLog.Id(h.To)} {h.Version}";
        if (b.Length >= Handshake.ReplySize && Handshake.ReadReply(b.AsSpan(0, Handshake.ReplySize), out _) is { } r)
            _ = Handshake.Describe(r.Code);
    }

    private static IReadOnlyList<byte[]> FrameSeeds()
    {
        var w = new ArrayBufferWriter<byte>();
        foreach (var m in Messages)
        {
            var p = RaftpbConvert.ToProto(m);
            MessageFrames.Write(w, p, p.CalculateSize());
            MessageFrames.WriteLinkHeartbeat(w);
        }
        return [w.WrittenSpan.ToArray()];
    }

    private static void FramesRead(byte[] stream)
    {
        var buffer = new ReadOnlySequence<byte>(stream);
        while (MessageFrames.TryRead(ref buffer, MaxFrameSize, out var payload, out _) == MessageFrames.ReadStatus.Frame)
            if (payload.Length > 0) MessageFrames.Decode(payload);
    }

    private static IReadOnlyList<byte[]> EntrySeeds() => [.. Entries.Select(RaftpbMarshal.Marshal)];

    private static IReadOnlyList<byte[]> SnapshotSeeds() => [RaftpbMarshal.Marshal(Snap)];

    private static IReadOnlyList<byte[]> ConfChangeSeeds() =>
    [
        RaftpbMarshal.Marshal(new ConfChange(7, ConfChangeType.ConfChangeAddNode, 4, [1, 2])),
        RaftpbMarshal.Marshal(new ConfChangeV2(ConfChangeTransition.ConfChangeTransitionAuto,
            ListModule.OfSeq([new ConfChangeSingle(ConfChangeType.ConfChangeAddLearnerNode, 5), new ConfChangeSingle(ConfChangeType.ConfChangeRemoveNode, 2)]), [7])),
        RaftpbMarshal.Marshal(new HardState(3, 2, 9)),
        RaftpbMarshal.Marshal(Conf),
    ];

    private static void ConfChangeRead(byte[] b)
    {
        // The apply loop decodes an entry's data by its type; each parser gets every input.
        Try(() => RaftpbMarshal.UnmarshalConfChange(b));
        Try(() => RaftpbMarshal.UnmarshalConfChangeV2(b));
        Try(() => RaftpbMarshal.UnmarshalHardState(b));
        RaftpbMarshal.UnmarshalConfState(b);
    }

    private static void Try(Action decode)
    {
        try
        {
            decode();
        }
        catch (WireFormatException)
        {
        }
    }

    private static IReadOnlyList<byte[]> CommandSeeds() =>
    [
        KvCommandCodec.Encode(new PutRequest("foo"u8.ToArray(), "bar"u8.ToArray(), true)),
        KvCommandCodec.Encode(new DeleteRangeRequest("a"u8.ToArray(), "z"u8.ToArray(), false)),
    ];

    private static IReadOnlyList<byte[]> KvSnapshotSeeds()
    {
        using var empty = new KvStateMachine();
        using var machine = new KvStateMachine();
        machine.Apply(1, KvCommandCodec.Encode(new PutRequest("foo"u8.ToArray(), "bar"u8.ToArray())));
        machine.Apply(2, KvCommandCodec.Encode(new PutRequest("zoo"u8.ToArray(), new byte[40])));
        return [machine.TakeSnapshot(), empty.TakeSnapshot()];
    }

    private static IReadOnlyList<byte[]> GatewaySeeds() =>
    [
        .. new[]
        {
            """{"key":"Zm9v","value":"YmFy","prev_kv":true}""",
            """{"key":"YQ==","range_end":"eg==","limit":"10","revision":3,"sort_order":"DESCEND","sort_target":"KEY","serializable":true,"keys_only":false,"count_only":false}""",
            """{"key":"YQ==","range_end":"AA==","prev_kv":false}""",
            """{"peerURLs":["http://127.0.0.1:2380"],"isLearner":false}""",
            """{"ID":"12345"}""",
            """{"linearizable":true}""",
            "{}",
        }.Select(Encoding.UTF8.GetBytes),
    ];

    private static void GatewayRead(byte[] body)
    {
        // Each endpoint's reader gets every body, as a hostile client can send any body to any path.
        var seq = new ReadOnlySequence<byte>(body);
        GatewayJsonReader.ReadPut(seq, out _);
        GatewayJsonReader.ReadRange(seq, out _);
        GatewayJsonReader.ReadDeleteRange(seq, out _);
        GatewayJsonReader.ReadMemberAdd(seq, out _);
        GatewayJsonReader.ReadMemberId(seq, out _);
        GatewayJsonReader.ReadMemberList(seq, out _);
        GatewayJsonReader.ReadEmpty(seq);
        GoJsonSyntax.FirstError(body, wholeInput: true);
    }

    // etcd's client API: each input is one gRPC message body, read through the services' checked
    // request stream and parsed as the request of every method, as Grpc.AspNetCore parses it.
    private static readonly Google.Protobuf.Reflection.MessageDescriptor[] GrpcRequests =
        [.. Raft.Kv.Proto.RpcReflection.Descriptor.Services.SelectMany(s => s.Methods).Select(m => m.InputType).Distinct()];

    private static IReadOnlyList<byte[]> GrpcSeeds()
    {
        var txn = new Raft.Kv.Proto.TxnRequest();
        txn.Compare.Add(new Raft.Kv.Proto.Compare { Key = Google.Protobuf.ByteString.CopyFromUtf8("a"), Target = Raft.Kv.Proto.Compare.Types.CompareTarget.Version, Version = 1 });
        txn.Success.Add(new Raft.Kv.Proto.RequestOp { RequestPut = new Raft.Kv.Proto.PutRequest { Key = Google.Protobuf.ByteString.CopyFromUtf8("a"), Value = Google.Protobuf.ByteString.CopyFromUtf8("b") } });
        txn.Failure.Add(new Raft.Kv.Proto.RequestOp { RequestRange = new Raft.Kv.Proto.RangeRequest { Key = Google.Protobuf.ByteString.CopyFromUtf8("a"), RangeEnd = Google.Protobuf.ByteString.CopyFromUtf8("z"), Limit = 10 } });
        Google.Protobuf.IMessage[] messages =
        [
            txn,
            new Raft.Kv.Proto.RangeRequest { Key = Google.Protobuf.ByteString.CopyFromUtf8("foo"), RangeEnd = Google.Protobuf.ByteString.CopyFromUtf8("fop"), Revision = 3, SortOrder = Raft.Kv.Proto.RangeRequest.Types.SortOrder.Descend },
            new Raft.Kv.Proto.WatchRequest { CreateRequest = new Raft.Kv.Proto.WatchCreateRequest { Key = Google.Protobuf.ByteString.CopyFromUtf8("k"), StartRevision = 2, PrevKv = true, Filters = { Raft.Kv.Proto.WatchCreateRequest.Types.FilterType.Noput } } },
            new Raft.Kv.Proto.LeaseGrantRequest { TTL = 10, ID = 7 },
            new Raft.Kv.Proto.MemberAddRequest { PeerURLs = { "http://127.0.0.1:2380" }, IsLearner = true },
            new Raft.Kv.Proto.AuthRoleGrantPermissionRequest { Name = "r", Perm = new Raft.Kv.Proto.Permission { Key = Google.Protobuf.ByteString.CopyFromUtf8("a"), RangeEnd = Google.Protobuf.ByteString.CopyFromUtf8("b") } },
        ];
        return [.. messages.Select(m => Google.Protobuf.MessageExtensions.ToByteArray(m))];
    }

    private static void GrpcRead(byte[] message)
    {
        // The body as the service reads it: through the checked stream, for the request its first byte picks.
        var framed = new byte[5 + message.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(framed.AsSpan(1), message.Length);
        message.CopyTo(framed, 5);
        var picked = GrpcRequests[(message.Length == 0 ? 0 : message[0]) % GrpcRequests.Length];
        using (var body = new Raft.Kv.Grpc.CheckedGrpcRequestStream(new MemoryStream(framed), picked, new KvServiceOptions().EffectiveMaxRecvBytes, gzip: false))
            body.ReadExactly(new byte[framed.Length]);
        // Every request message: the check, then Google.Protobuf's parser on what passes it.
        foreach (var request in GrpcRequests)
        {
            if (Raft.Interop.Wire.ProtobufInput.Check(request, message) is not null) continue;
            try
            {
                request.Parser.ParseFrom(message);
            }
            catch (Google.Protobuf.InvalidProtocolBufferException)
            {
            }
        }
    }

    // /v3/watch: a body of JSON WatchRequests, cut into values as the gateway cuts them, each parsed.
    private static IReadOnlyList<byte[]> WatchBodySeeds() =>
    [
        .. new[]
        {
            """{"create_request":{"key":"Zm9v","range_end":"Zm9w","start_revision":"2","prev_kv":true,"filters":["NOPUT"]}}""",
            """{"create_request":{"key":"YQ=="}}{"progress_request":{}}{"cancel_request":{"watch_id":"0"}}""",
        }.Select(Encoding.UTF8.GetBytes),
    ];

    private static void WatchBodyRead(byte[] body)
    {
        var buffer = new ReadOnlySequence<byte>(body);
        while (Raft.Kv.Watch.WatchGateway.TryTakeValue(ref buffer, final: true, out var json))
            Raft.Kv.Grpc.WatchResponses.Spec(Raft.Kv.Watch.WatchGateway.Parser.Parse<Raft.Kv.Proto.WatchRequest>(json).CreateRequest ?? new());
    }

    // --listen-client-urls, as the client port binds them.
    private static IReadOnlyList<byte[]> ClientUrlSeeds() =>
        [.. new[] { "http://127.0.0.1:2379", "https://localhost:2379,http://[::1]:12379", "http://0.0.0.0:2379" }.Select(Encoding.UTF8.GetBytes)];

    private static void ClientUrlRead(byte[] b) =>
        Raft.Kv.Tls.KvClientListeners.ParseUrls(Encoding.UTF8.GetString(b));

    private static IReadOnlyList<byte[]> Base64Seeds() =>
        [.. new[] { "Zm9vYmFy", "YQ==", "AAECAwQFBgcICQ==", "" }.Select(Encoding.ASCII.GetBytes)];

    private static IReadOnlyList<byte[]> UrlSeeds() =>
        [.. new[] { "http://127.0.0.1:2380", "tcp://[::1]:2380", "http://localhost:12380", "http://node-1.example:2380/" }.Select(Encoding.UTF8.GetBytes)];

    private static IReadOnlyList<byte[]> FlagSeeds() =>
    [
        .. new[]
        {
            "--name\0n1\0--data-dir\0/tmp/x\0--listen-peer-urls\0http://127.0.0.1:2380\0--initial-cluster\0n1=http://127.0.0.1:2380,n2=http://127.0.0.1:2381",
            "--listen-client-urls\0http://127.0.0.1:2379\0--heartbeat-interval\0100\0--election-timeout\01000\0--max-request-bytes\01572864",
            "--initial-cluster-state\0existing\0--snapshot-count\010000\0--quota-backend-bytes\00",
        }.Select(Encoding.UTF8.GetBytes),
    ];

    // Flags arrive as separate arguments; a NUL cannot occur inside one, so it separates them here.
    // As in Program, a parse with errors prints them and exits before the options are built.
    private static void FlagsRead(byte[] b)
    {
        var parsed = ServeCommand.Create().Parse(Encoding.UTF8.GetString(b).Split('\0'));
        if (parsed.Errors.Count == 0) ServeCommand.Options(parsed);
    }
}
