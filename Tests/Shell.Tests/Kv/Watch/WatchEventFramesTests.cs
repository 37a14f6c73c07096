using System.Buffers;
using System.Buffers.Binary;
using Google.Protobuf;
using Raft.Kv.Grpc;
using Xunit.Abstractions;
using KvPb = Raft.Kv.Proto;

namespace Raft.Shell.Tests.Kv.Watch;

/// <summary>
/// The watch stream's pre-encoded event responses against Google.Protobuf's own serialization of the
/// same <see cref="KvPb.WatchResponse"/>: for seeded random headers, events (puts and deletes, with and
/// without previous pairs, empty and large keys and values) and watch ids (0, negative, past 2^63 / 2),
/// the bytes after gRPC's prefix are exactly the message's, and the prefix says their length. The broken
/// variant (the watch id written after the events, a message protobuf parses the same) is caught.
/// </summary>
public class WatchEventFramesTests(ITestOutputHelper output)
{
    [Fact]
    public void Frames_are_the_bytes_of_the_whole_message()
    {
        var failure = FirstMismatch(new Random(TestSeed.Value), broken: false, rounds: 300);
        Assert.True(failure is null, $"{failure}; {TestSeed.Describe}");
        output.WriteLine(TestSeed.Describe);
    }

    [Fact]
    public void Broken_variant_with_the_watch_id_after_the_events_is_caught()
    {
        var failure = FirstMismatch(new Random(TestSeed.Value), broken: true, rounds: 300);
        Assert.False(failure is null, $"the watch id after the events went unnoticed; {TestSeed.Describe}");
        output.WriteLine($"{failure}; {TestSeed.Describe}");
    }

    private static string? FirstMismatch(Random random, bool broken, int rounds)
    {
        for (var round = 0; round < rounds; round++)
        {
            var header = new KvPb.ResponseHeader
            {
                ClusterId = (ulong)random.NextInt64(), MemberId = (ulong)random.NextInt64(),
                Revision = random.NextInt64(1, long.MaxValue >> random.Next(0, 60)), RaftTerm = (ulong)random.Next(0, 1000),
            };
            var events = Enumerable.Range(0, random.Next(1, 4)).Select(_ => Event(random)).ToList();
            var frames = new WatchEventFrames { WatchIdAfterEvents = broken };
            frames.Encode(header, events);
            // Several watchers of one encoding, as on a stream.
            for (var w = 0; w < 3; w++)
            {
                long id = random.Next(0, 4) switch
                {
                    0 => 0,
                    1 => -random.NextInt64(1, long.MaxValue),
                    2 => random.Next(1, 200),
                    _ => random.NextInt64(long.MaxValue / 2, long.MaxValue),
                };
                var expected = new KvPb.WatchResponse { Header = header, WatchId = id };
                expected.Events.Add(events);
                var body = new ArrayBufferWriter<byte>();
                frames.Write(body, id);
                var written = body.WrittenSpan;
                var want = expected.ToByteArray();
                if (written.Length < 5 || written[0] != 0 || BinaryPrimitives.ReadUInt32BigEndian(written[1..]) != (uint)want.Length
                    || frames.Length(id) != want.Length || !written[5..].SequenceEqual(want))
                    return $"round {round}, watch id {id}: wrote {Convert.ToHexString(written)}, protobuf {Convert.ToHexString(want)}";
                // And a client reads it back as the same message.
                if (!KvPb.WatchResponse.Parser.ParseFrom(written[5..].ToArray()).Equals(expected))
                    return $"round {round}, watch id {id}: parsed differently";
            }
        }
        return null;
    }

    private static KvPb.Event Event(Random random)
    {
        var e = new KvPb.Event { Type = random.Next(2) == 0 ? KvPb.Event.Types.EventType.Put : KvPb.Event.Types.EventType.Delete, Kv = Kv(random) };
        if (random.Next(2) == 0) e.PrevKv = Kv(random);
        return e;
    }

    private static KvPb.KeyValue Kv(Random random) => new()
    {
        Key = ByteString.CopyFrom(Bytes(random, random.Next(0, 3) == 0 ? 0 : random.Next(1, 40))),
        Value = ByteString.CopyFrom(Bytes(random, random.Next(0, 4) == 0 ? random.Next(200, 70_000) : random.Next(0, 30))),
        CreateRevision = random.NextInt64(0, 1L << random.Next(1, 62)),
        ModRevision = random.NextInt64(0, 1L << random.Next(1, 62)),
        Version = random.Next(0, 100),
        Lease = random.Next(3) == 0 ? random.NextInt64() : 0,
    };

    private static byte[] Bytes(Random random, int n)
    {
        var b = new byte[n];
        random.NextBytes(b);
        return b;
    }
}
