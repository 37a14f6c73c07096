using Google.Protobuf;
using Xunit.Abstractions;
using Raft.Kv;
using Raft.Kv.Codec;
using Raft.Kv.Mvcc;

namespace Raft.Shell.Tests.Kv;

// Inside the namespace: Google.Protobuf 3.36 (dotnet-etcd's) has a global namespace Pb that would clash with the alias.
using Pb = Raft.Kv.Proto;

/// <summary>
/// The codecs against the generated messages used whole: the pair-by-pair snapshot writer and the
/// request size taken from a command's length must give what the generated code gives.
/// </summary>
public class KvCodecTests(ITestOutputHelper output)
{
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("KV_CODEC_SEED"), out var s) ? s : Environment.TickCount;

    [Theory]
    // Request sizes around the varint length boundaries (127/128, 16383/16384, 2097151/2097152).
    [InlineData(0, 0)]
    [InlineData(1, 120)]
    [InlineData(1, 121)]
    [InlineData(1, 122)]
    [InlineData(1, 16_375)]
    [InlineData(1, 16_376)]
    [InlineData(1, 16_377)]
    [InlineData(3, 2_097_140)]
    [InlineData(3, 2_097_141)]
    [InlineData(3, 2_097_142)]
    public void RequestSizeIsTheSizeOfTheGeneratedRequest(int keyBytes, int valueBytes)
    {
        var key = new byte[keyBytes + 1];
        var value = new byte[valueBytes];
        var command = KvCommandCodec.Encode(new PutRequest(key, value));
        var expected = new Pb.PutRequest { Key = ByteString.CopyFrom(key), Value = ByteString.CopyFrom(value) }.CalculateSize();
        Assert.Equal(expected, KvCommandCodec.RequestSize(command));
        var delete = KvCommandCodec.Encode(new DeleteRangeRequest(key, value));
        Assert.Equal(new Pb.DeleteRangeRequest { Key = ByteString.CopyFrom(key), RangeEnd = ByteString.CopyFrom(value) }.CalculateSize(),
            KvCommandCodec.RequestSize(delete));
    }

    [Fact]
    public void ASnapshotIsTheGeneratedKvSnapshotOfTheStore()
    {
        // A failure replays with KV_CODEC_SEED set to the printed seed.
        output.WriteLine($"KV_CODEC_SEED={Seed}");
        var rng = new Random(Seed);
        var sm = new KvStateMachine();
        ulong index = 0;
        for (var i = 0; i < 500; i++)
        {
            var key = new byte[rng.Next(1, 40)];
            rng.NextBytes(key);
            // Some empty values (left out of the pair) and some longer than 127 bytes (two-byte lengths).
            var value = new byte[rng.Next(3) == 0 ? 0 : rng.Next(1, 300)];
            rng.NextBytes(value);
            var command = rng.Next(10) == 0
                ? KvCommandCodec.Encode(new DeleteRangeRequest(key))
                : KvCommandCodec.Encode(new PutRequest(key, value));
            sm.Apply(++index, command);
        }
        var whole = new Pb.KvSnapshot { Revision = sm.Store.CurrentRevision, ConsistentIndex = sm.Store.ConsistentIndex };
        foreach (var kv in sm.All().Pairs)
        {
            whole.Kvs.Add(new Pb.KeyValue
            {
                Key = ByteString.CopyFrom(kv.Key.Span),
                CreateRevision = kv.CreateRevision,
                ModRevision = kv.ModRevision,
                Version = kv.Version,
                Value = ByteString.CopyFrom(kv.Value.Span),
            });
        }

        var snapshot = sm.TakeSnapshot();
        Assert.True(whole.ToByteArray().AsSpan().SequenceEqual(snapshot), $"snapshot differs from the generated KvSnapshot's bytes (KV_CODEC_SEED={Seed})");
        var restored = new KvStateMachine();
        restored.Restore(snapshot);
        Assert.Equal(sm.All().Pairs, restored.All().Pairs);
        Assert.Equal(sm.Store.CurrentRevision, restored.Store.CurrentRevision);
    }
}
