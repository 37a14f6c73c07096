using System.Buffers.Binary;
using Grpc.Core;
using Raft.Kv.Grpc;
using KvPb = Raft.Kv.Proto;

namespace Raft.Shell.Tests.Fuzz;

/// <summary>
/// The gRPC services' request bodies pass <see cref="CheckedGrpcRequestStream"/> before Google.Protobuf
/// parses them: the nested length near int.MaxValue that made the parser read past its input or
/// allocate gigabytes (found in the raftpb and command decoders) is refused here too.
/// </summary>
public sealed class GrpcRequestCheckTests
{
    private static byte[] Framed(byte[] message)
    {
        var framed = new byte[5 + message.Length];
        BinaryPrimitives.WriteInt32BigEndian(framed.AsSpan(1), message.Length);
        message.CopyTo(framed, 5);
        return framed;
    }

    private static byte[] ReadThrough(byte[] framed, Google.Protobuf.Reflection.MessageDescriptor request, int chunk)
    {
        using var body = new CheckedGrpcRequestStream(new ChunkedStream(framed, chunk), request, 2 * 1024 * 1024, gzip: false);
        using var copy = new MemoryStream();
        body.CopyTo(copy);
        return copy.ToArray();
    }

    // A TxnRequest whose first success op announces int.MaxValue bytes, then a well-formed op.
    public const string HostileTxn = "Ev////8HEgYKAWESAXo=";

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(4096)]
    public void ANestedLengthNearIntMaxIsRefusedWithInvalidArgument(int chunk)
    {
        var ex = Assert.Throws<RpcException>(() => ReadThrough(Framed(Convert.FromBase64String(HostileTxn)), KvPb.TxnRequest.Descriptor, chunk));
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("etcdserverpb.TxnRequest", ex.Status.Detail);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4096)]
    public void WellFormedMessagesPassUnchangedOneAfterAnother(int chunk)
    {
        var a = new KvPb.WatchRequest { CreateRequest = new KvPb.WatchCreateRequest { Key = Google.Protobuf.ByteString.CopyFromUtf8("k"), PrevKv = true } };
        var b = new KvPb.WatchRequest { CancelRequest = new KvPb.WatchCancelRequest { WatchId = 3 } };
        var big = new KvPb.WatchRequest { CreateRequest = new KvPb.WatchCreateRequest { Key = Google.Protobuf.ByteString.CopyFrom(new byte[100_000]) } };
        byte[] stream = [.. Framed(Google.Protobuf.MessageExtensions.ToByteArray(a)), .. Framed(Google.Protobuf.MessageExtensions.ToByteArray(big)), .. Framed(Google.Protobuf.MessageExtensions.ToByteArray(b))];
        Assert.Equal(stream, ReadThrough(stream, KvPb.WatchRequest.Descriptor, chunk));
    }

    [Fact]
    public void AMessageAnnouncingMoreThanTheLimitIsLeftToGrpcsOwnRefusal()
    {
        var header = new byte[5];
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(1), int.MaxValue);
        byte[] stream = [.. header, 1, 2, 3];
        Assert.Equal(stream, ReadThrough(stream, KvPb.PutRequest.Descriptor, 2));
    }

    // Hands out at most a few bytes per read, as a network does.
    private sealed class ChunkedStream(byte[] data, int chunk) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, chunk));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, chunk)], cancellationToken);
    }
}
