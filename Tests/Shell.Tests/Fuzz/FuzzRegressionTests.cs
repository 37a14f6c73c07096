using System.Buffers;
using Raft.Interop.Wire;
using Raft.Kv.Codec;
using Raft.Kv.Http;
using Raft.Kv.Mvcc;
using Raft.Shell.Transport;

namespace Raft.Shell.Tests.Fuzz;

/// <summary>Inputs the fuzzing campaign found, each refused clearly now.</summary>
public sealed class FuzzRegressionTests
{
    // A nested message announcing int.MaxValue bytes: Google.Protobuf read past the input.
    [Theory]
    [InlineData("Ev////8H")]
    [InlineData("CgUBAgMEBRL/////BxIQCgoIAQgCCAMQBCgAEAUYAQ==")]
    public void RaftpbWithANestedLengthNearIntMaxIsMalformed(string base64)
    {
        var ex = Assert.Throws<WireFormatException>(() => RaftpbMarshal.UnmarshalSnapshot(Convert.FromBase64String(base64)));
        Assert.Contains("announces", ex.Message);
        Assert.Throws<WireFormatException>(() => MessageFrames.Decode(new ReadOnlySequence<byte>(Convert.FromBase64String(base64))));
    }

    // The same overflow in a command made the parser allocate 1.7 GB from 38 bytes.
    [Theory]
    [InlineData("Iv////8HKvq7s71mb28SA2JhciAB3f7M4hsGCgFhGwYKAWESAXo=")]
    [InlineData("Kv////8HKgYKAWESAXo=")]
    [InlineData("Iv////8HKgYKAQ==")]
    public void CommandWithANestedLengthNearIntMaxIsMalformedWithoutAllocating(string base64)
    {
        // The first decode builds the message descriptors (once per process, well over the bound
        // since the command grew txn and auth requests); measure the malformed input alone.
        KvCommandCodec.Decode(Convert.FromBase64String(base64));
        var before = GC.GetAllocatedBytesForCurrentThread();
        var result = KvCommandCodec.Decode(Convert.FromBase64String(base64));
        Assert.IsType<KvError>(result);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
    }

    [Theory]
    [InlineData("Ev////8H")]
    [InlineData("Ev////8Hcv/f//8HCAE=")]
    [InlineData("Ev////8HPQE=")]
    public void StoreSnapshotWithANestedLengthNearIntMaxIsInvalidData(string base64) =>
        Assert.Throws<InvalidDataException>(() => KvSnapshotCodec.Decode(Convert.FromBase64String(base64)));

    // "tcp://[::1]:": Uri reports port -1 and IPEndPoint threw ArgumentOutOfRangeException.
    [Fact]
    public void PeerUrlWithAnEmptyPortIsAFormatError() =>
        Assert.Throws<FormatException>(() => PeerUrl.Parse("tcp://[::1]:"));

    // A member-add body with invalid UTF-8 in a peer URL: System.Text.Json threw; Go decodes it with U+FFFD.
    [Theory]
    [InlineData("http://127.", "0.0.1:2380")]
    [InlineData("\\thttp://127.", "0.0.1:2380")]
    public void MemberAddWithInvalidUtf8IsReadWithoutThrowing(string before, string after)
    {
        byte[] body = [.. "{\"peerURLs\":[\""u8, .. System.Text.Encoding.UTF8.GetBytes(before), 0x80, .. System.Text.Encoding.UTF8.GetBytes(after), .. "\"],\"isLearner\":false}"u8];
        var error = GatewayJsonReader.ReadMemberAdd(new ReadOnlySequence<byte>(body), out var request);
        Assert.Null(error);
        Assert.StartsWith(before.Replace("\\t", "\t", StringComparison.Ordinal)[..1], Assert.Single(request.PeerUrls).Replace("\\t", "\t", StringComparison.Ordinal));
    }
}
