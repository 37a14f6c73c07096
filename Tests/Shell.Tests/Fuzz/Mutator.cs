using System.Buffers.Binary;

namespace Raft.Shell.Tests.Fuzz;

/// <summary>
/// Makes hostile inputs from valid ones: bit flips, interesting bytes, truncation, splices from
/// another seed, repeated chunks (repeated fields), huge varints, and length fields that lie
/// (overwritten with large or off-by-some values, in both byte orders). Seeded: the same seed gives
/// the same inputs.
/// </summary>
internal sealed class Mutator(Random random, IReadOnlyList<byte[]> seeds)
{
    private static readonly byte[] Interesting = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x10, 0x12, 0x1a, 0x22, 0x7b, 0x7d, 0x22, 0x5b, 0x5d, 0x3a, 0x5c];
    private static readonly ulong[] Lies = [0, 1, 7, 8, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x00ff_ffff_ffff_ffff, 0x7fff_ffff_ffff_ffff, ulong.MaxValue];

    /// <summary>The next input: a seed with one to four mutations.</summary>
    public byte[] Next()
    {
        var data = new List<byte>(seeds[random.Next(seeds.Count)]);
        var count = 1 + random.Next(4);
        for (var i = 0; i < count; i++) Mutate(data);
        return [.. data];
    }

    private void Mutate(List<byte> d)
    {
        var at = d.Count == 0 ? 0 : random.Next(d.Count);
        switch (random.Next(10))
        {
            case 0 when d.Count > 0:
                d[at] ^= (byte)(1 << random.Next(8));
                break;
            case 1 when d.Count > 0:
                d[at] = Interesting[random.Next(Interesting.Length)];
                break;
            case 2:
                d.RemoveRange(at, d.Count - at);
                break;
            case 3 when d.Count > 0:
                d.RemoveRange(at, random.Next(Math.Min(16, d.Count - at) + 1));
                break;
            case 4:
                // A splice: the tail of another seed from some offset.
                var other = seeds[random.Next(seeds.Count)];
                var from = other.Length == 0 ? 0 : random.Next(other.Length);
                d.InsertRange(at, other.Skip(from).Take(1 + random.Next(64)));
                break;
            case 5 when d.Count > 0:
                // A repeated chunk: protobuf repeats a field, JSON a member.
                var len = 1 + random.Next(Math.Min(32, d.Count - at));
                var chunk = d.GetRange(at, len);
                var times = 1 + random.Next(4);
                for (var t = 0; t < times; t++) d.InsertRange(at, chunk);
                break;
            case 6:
                // A huge or overlong varint.
                var v = new List<byte>();
                var n = 1 + random.Next(11);
                for (var k = 0; k < n - 1; k++) v.Add((byte)(0x80 | random.Next(128)));
                v.Add((byte)random.Next(random.Next(2) == 0 ? 2 : 128));
                d.InsertRange(at, v);
                break;
            case 7:
                // A length field that lies, as 4 or 8 bytes in either order.
                var lie = Lies[random.Next(Lies.Length)] + (ulong)random.Next(-2, 3);
                var wide = random.Next(2) == 0;
                Span<byte> b = stackalloc byte[8];
                if (random.Next(2) == 0) BinaryPrimitives.WriteUInt64LittleEndian(b, lie);
                else BinaryPrimitives.WriteUInt64BigEndian(b, lie);
                var bytes = wide ? b.ToArray() : (b[0] == 0 && b[1] == 0 ? b[4..] : b[..4]).ToArray();
                for (var k = 0; k < bytes.Length; k++)
                {
                    if (at + k < d.Count) d[at + k] = bytes[k];
                    else d.Add(bytes[k]);
                }
                break;
            case 8:
                // A protobuf length-delimited field announcing more than follows.
                d.Insert(Math.Min(at, d.Count), (byte)((1 + random.Next(15)) << 3 | 2));
                d.InsertRange(Math.Min(at + 1, d.Count), [0xff, 0xff, 0xff, 0xff, 0x07]);
                break;
            default:
                var add = new byte[1 + random.Next(16)];
                random.NextBytes(add);
                d.InsertRange(at, add);
                break;
        }
    }
}
