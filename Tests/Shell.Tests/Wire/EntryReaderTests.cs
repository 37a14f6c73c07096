using FsCheck;
using FsCheck.Fluent;
using Raft.Core;
using Raft.Interop.Wire;
using Proto = Raft.Interop.Raftpb;

namespace Raft.Shell.Tests.Wire;

/// <summary>
/// The Entry decoder the WAL read uses (<see cref="EntryReader"/>, with the protobuf parser behind
/// it for what it refuses) gives the parser's answer, entry or error, for the bytes we write and for
/// damaged ones: flipped bits, cuts, fields repeated, unknown or with long varints.
/// </summary>
public class EntryReaderTests
{
    private static readonly byte[] Tags = [0x08, 0x10, 0x18, 0x22, 0x28, 0x0b];

    // An entry's bytes, then one kind of damage at a generated place.
    private static readonly Gen<byte[]> Inputs =
        from e in WireGen.Entries
        from kind in Gen.Choose(0, 5)
        from pos in Gen.Choose(0, int.MaxValue)
        from tag in Gen.Elements(Tags)
        from v in WireGen.U64
        select Damage(RaftpbMarshal.Marshal(e), kind, pos, tag, v);

    private static byte[] Damage(byte[] b, int kind, int pos, byte tag, ulong v)
    {
        switch (kind)
        {
            case 1 when b.Length > 0:
                b[pos % b.Length] ^= (byte)(1 << (pos % 8));
                return b;
            case 2:
                return b[..(pos % (b.Length + 1))];
            case 3:
                return [.. b, .. Field(tag, v)];
            case 4:
                return [.. Field(tag, v), .. b];
            case 5:
                // The index again as a 10-byte varint (the last one counts).
                return [.. b, 0x18, .. LongVarint(v)];
            default:
                return b;
        }
    }

    private static byte[] Field(byte tag, ulong v)
    {
        var value = new List<byte>();
        for (var x = tag == 0x22 ? v % 9 : v; ; x >>= 7)
        {
            value.Add((byte)(x < 0x80 ? x : (x & 0x7f) | 0x80));
            if (x < 0x80) break;
        }
        // A bytes field: its length, then as many bytes.
        return tag == 0x22 ? [tag, .. value, .. Enumerable.Repeat((byte)0x5a, (int)(v % 9))] : [tag, .. value];
    }

    private static byte[] LongVarint(ulong v)
    {
        var b = new byte[10];
        for (var i = 0; i < 9; i++) b[i] = (byte)(((v >> (7 * i)) & 0x7f) | 0x80);
        b[9] = (byte)(v >> 63);
        return b;
    }

    private static string Outcome(Func<Entry> decode)
    {
        try
        {
            var e = decode();
            return $"{e.Term}/{e.Index}/{e.Type}/{Convert.ToHexString(e.Data)}";
        }
        catch (WireFormatException ex)
        {
            return "error: " + ex.Message;
        }
    }

    private static string Parser(byte[] b) => Outcome(() => RaftpbConvert.ToCore(RaftpbMarshal.Parse(Proto.Entry.Parser, b, "Entry")));

    [Fact]
    public void AgreesWithTheProtobufParser()
    {
        PropertyAssert.Holds(Inputs, b => Outcome(() => RaftpbMarshal.UnmarshalEntry(b)) == Parser(b));
        // Broken: a reader that keeps the first of a repeated field (the parser keeps the last).
        PropertyAssert.Fails(Inputs, b => Outcome(() => RaftpbMarshal.UnmarshalEntry(FirstOfEachField(b))) == Parser(b));
    }

    [Fact]
    public void ReadsWhatWeWriteItself()
    {
        // The parser would give the same answer: what matters is that the WAL's entries take the short way.
        PropertyAssert.Holds(WireGen.Entries, e =>
            e.Term >= 1UL << 63 || e.Index >= 1UL << 63
            || (EntryReader.TryRead(RaftpbMarshal.Marshal(e), out var back) && back.Equals(e)));
        // Broken: an entry whose data is one byte short.
        PropertyAssert.Fails(WireGen.Entries, e =>
            e.Term >= 1UL << 63 || e.Index >= 1UL << 63
            || (EntryReader.TryRead(RaftpbMarshal.Marshal(new Entry(e.Term, e.Index, e.Type, e.Data.Length > 0 ? e.Data[1..] : e.Data)), out var back)
                && back.Equals(e)));
    }

    [Fact]
    public void RefusesWhatOnlyTheParserDecides()
    {
        var e = new Entry(3, 7, EntryType.EntryNormal, [1, 2, 3]);
        var b = RaftpbMarshal.Marshal(e);
        Assert.True(EntryReader.TryRead(b, out _));
        Assert.False(EntryReader.TryRead([.. b, 0x10, 0x05], out _), "a field twice");
        Assert.False(EntryReader.TryRead([.. b, 0x28, 0x01], out _), "an unknown field");
        Assert.False(EntryReader.TryRead([.. b, 0x18, .. LongVarint(9)], out _), "a 10-byte varint");
        Assert.False(EntryReader.TryRead(b[..^1], out _), "a cut data field");
        Assert.False(EntryReader.TryRead([0x08, 0x03], out _), "an entry type etcd does not define");
        Assert.True(EntryReader.TryRead([], out var empty));
        Assert.Equal(new Entry(0, 0, EntryType.EntryNormal, []), empty);
    }

    // The bytes with every repeat of a field left out; as they are when they do not walk.
    private static byte[] FirstOfEachField(byte[] b)
    {
        var seen = new HashSet<ulong>();
        var kept = new List<byte>();
        var i = 0;
        while (i < b.Length)
        {
            var start = i;
            if (!Varint(b, ref i, out var tag)) return b;
            switch (tag & 7)
            {
                case 0:
                    if (!Varint(b, ref i, out _)) return b;
                    break;
                case 2:
                    if (!Varint(b, ref i, out var len) || len > (ulong)(b.Length - i)) return b;
                    i += (int)len;
                    break;
                default:
                    return b;
            }
            if (seen.Add(tag >> 3)) kept.AddRange(b[start..i]);
        }
        return [.. kept];
    }

    private static bool Varint(byte[] b, ref int i, out ulong v)
    {
        v = 0;
        for (var shift = 0; shift < 70 && i < b.Length; shift += 7)
        {
            var x = b[i++];
            v |= (ulong)(x & 0x7f) << shift;
            if (x < 0x80) return true;
        }
        return false;
    }
}
