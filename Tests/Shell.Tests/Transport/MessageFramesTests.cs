using System.Buffers;
using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.Tests.Wire;
using Raft.Shell.Transport;

namespace Raft.Shell.Tests.Transport;

// Inside the namespace: Google.Protobuf 3.36 (dotnet-etcd's) has a global namespace Pb that would hide Core's Pb.
using Pb = Raft.Core.Pb;

/// <summary>The frame format on its own: encode, split anywhere, decode.</summary>
public class MessageFramesTests
{
    private static readonly Gen<(Message[] Messages, int[] Cuts)> Streams =
        from ms in WireGen.Messages.ArrayOf().Resize(8)
        from cuts in Gen.Choose(1, 64).ArrayOf()
        select (ms, cuts);

    [Fact]
    public void FramesSurviveAnySplitIntoReads()
    {
        PropertyAssert.Holds(Streams, s => Decode(Split(Encode(s.Messages), s.Cuts), MessageFrames.TryRead).SequenceEqual(s.Messages));
        // Broken: a reader that expects every read to end on a frame boundary and drops leftovers.
        PropertyAssert.Fails(Streams, s => Decode(Split(Encode(s.Messages), s.Cuts), WholeReadsOnly).SequenceEqual(s.Messages));
    }

    [Fact]
    public void LengthPrefixIsFourBytesBigEndianAndEmptyFrameIsALinkHeartbeat()
    {
        var m = new Message(MessageType.MsgHeartbeat, 2, 1, 5, 0, 0, [], 3, Pb.emptySnapshot, false, 0, []);
        var w = new ArrayBufferWriter<byte>();
        MessageFrames.WriteLinkHeartbeat(w);
        var p = RaftpbConvert.ToProto(m);
        MessageFrames.Write(w, p, p.CalculateSize());
        var body = RaftpbMarshal.Marshal(m);
        Assert.Equal([0, 0, 0, 0, .. BigEndian(body.Length), .. body], w.WrittenSpan.ToArray());
    }

    [Fact]
    public void AnOversizedPrefixIsRejectedBeforeItsBodyArrives()
    {
        var buf = new ReadOnlySequence<byte>(new byte[] { 0, 0, 0x10, 1 }); // 4097
        Assert.Equal(MessageFrames.ReadStatus.TooLarge, MessageFrames.TryRead(ref buf, 4096, out _, out var length));
        Assert.Equal(4097u, length);
        var ok = new ReadOnlySequence<byte>(new byte[] { 0, 0, 0x10, 0 }); // 4096: waits for the body
        Assert.Equal(MessageFrames.ReadStatus.NeedMore, MessageFrames.TryRead(ref ok, 4096, out _, out _));
    }

    [Fact]
    public void HandshakeRoundTripsAndRejectsForeignBytes()
    {
        var bytes = new byte[Handshake.HelloSize];
        var hello = new Hello(1, ConnectionKind.Snapshot, 0xabc, 7, 9);
        Handshake.WriteHello(bytes, hello);
        Assert.Equal(hello, Handshake.ReadHello(bytes, out _));
        bytes[0] = (byte)'G';
        Assert.Null(Handshake.ReadHello(bytes, out var error));
        Assert.StartsWith("bad magic", error);

        var reply = new byte[Handshake.ReplySize];
        var r = new HelloReply(1, HandshakeCode.ClusterIdMismatch, 0xabc, 7);
        Handshake.WriteReply(reply, r);
        Assert.Equal(r, Handshake.ReadReply(reply, out _));
    }

    private static byte[] BigEndian(int n)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(b, n);
        return b;
    }

    private static byte[] Encode(Message[] messages)
    {
        var w = new ArrayBufferWriter<byte>();
        foreach (var m in messages)
        {
            var p = RaftpbConvert.ToProto(m);
            MessageFrames.Write(w, p, p.CalculateSize());
        }
        return w.WrittenSpan.ToArray();
    }

    private static List<byte[]> Split(byte[] bytes, int[] cuts)
    {
        var reads = new List<byte[]>();
        var at = 0;
        for (var i = 0; at < bytes.Length; i++)
        {
            var n = Math.Min(cuts.Length == 0 ? bytes.Length : cuts[i % cuts.Length], bytes.Length - at);
            reads.Add(bytes[at..(at + n)]);
            at += n;
        }
        return reads;
    }

    private delegate MessageFrames.ReadStatus Reader(ref ReadOnlySequence<byte> buffer, int max, out ReadOnlySequence<byte> payload, out uint length);

    /// <summary>Feeds reads one at a time, as a socket would, keeping unconsumed bytes for the next.</summary>
    private static List<Message> Decode(List<byte[]> reads, Reader read)
    {
        var got = new List<Message>();
        var pending = Array.Empty<byte>();
        foreach (var chunk in reads)
        {
            pending = [.. pending, .. chunk];
            var buffer = new ReadOnlySequence<byte>(pending);
            while (read(ref buffer, int.MaxValue, out var payload, out _) == MessageFrames.ReadStatus.Frame)
                got.Add(MessageFrames.Decode(payload));
            pending = buffer.ToArray();
        }
        return got;
    }

    private static MessageFrames.ReadStatus WholeReadsOnly(ref ReadOnlySequence<byte> buffer, int max, out ReadOnlySequence<byte> payload, out uint length)
    {
        var status = MessageFrames.TryRead(ref buffer, max, out payload, out length);
        if (status == MessageFrames.ReadStatus.NeedMore) buffer = ReadOnlySequence<byte>.Empty;
        return status;
    }
}
