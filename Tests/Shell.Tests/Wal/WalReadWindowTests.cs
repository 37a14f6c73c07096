using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.Storage;
using Raft.Shell.Wal;
using Xunit.Abstractions;
using static Raft.Shell.Tests.Wal.WalTestKit;

namespace Raft.Shell.Tests.Wal;

/// <summary>
/// The restart read decodes records where they lie in its 1 MB read window: records that end past
/// the window, start exactly at its end or are larger than it read back whole, and damage in such a
/// record is a torn tail or a refusal as before.
/// </summary>
public class WalReadWindowTests(ITestOutputHelper output)
{
    private const int Window = 1 << 20;

    // Entry sizes around and beyond the window, in an order from this run's seed.
    private Entry[] Entries()
    {
        var rnd = TestSeed.NewRandom(output.WriteLine);
        int[] sizes = [Window - 64, Window, Window + 1, 2 * Window + 100, 8, 0, 300_000, 700_000, 41_000, 41_000, 65_536];
        var ents = new List<Entry>();
        ulong index = 1;
        foreach (var size in sizes.Concat(Enumerable.Range(0, 40).Select(_ => rnd.Next(1, 200_000))).OrderBy(_ => rnd.Next()))
        {
            var data = new byte[size];
            rnd.NextBytes(data);
            ents.Add(new Entry(1, index++, EntryType.EntryNormal, data));
        }
        return [.. ents];
    }

    private static string Write(TempDir t, Entry[] ents)
    {
        var data = t.Sub("d");
        using var s = NodeStorage.Create(data, new WalMetadata(1, 2), Small(256L << 20));
        for (var i = 0; i < ents.Length; i += 3)
        {
            var batch = ents[i..Math.Min(ents.Length, i + 3)];
            s.Save(new HardState(1, 1, batch[0].Index - 1), batch);
        }
        return data;
    }

    [Fact]
    public void RecordsAcrossAndBeyondTheWindowReadBackWhole()
    {
        using var t = new TempDir();
        var ents = Entries();
        var data = Write(t, ents);
        var (s, st) = NodeStorage.Restart(data, Small(256L << 20));
        s.Close();
        Assert.False(st.Repaired);
        AssertEntries(ents, st.Entries);
        // The copying reader (dumps, inspection) sees the same records.
        var fromRecords = Records(NodeStorage.WalDir(data)).Where(r => r.Type == RecordType.Entry)
            .Select(r => RaftpbMarshal.UnmarshalEntry(r.Data)).ToArray();
        AssertEntries(ents, fromRecords);
        // Some frames did cross a window boundary (windows start where a frame that did not fit begins).
        var offsets = Records(NodeStorage.WalDir(data)).Select(r => (r.Offset, End: r.Offset + 8 + r.Raw.Length)).ToArray();
        Assert.Contains(offsets, f => f.End - f.Offset > Window);
    }

    [Fact]
    public void ACutOrAHoleInALargeLastRecordIsATornTail()
    {
        using var t = new TempDir();
        var ents = Entries();
        var pristine = Write(t, ents);
        var wal = Directory.GetFiles(NodeStorage.WalDir(pristine), "*.wal").Single();
        var recs = Records(NodeStorage.WalDir(pristine));
        var victim = recs.Last(r => r.Type == RecordType.Entry && r.Raw.Length > Window / 2);
        var victimIndex = RaftpbMarshal.UnmarshalEntry(victim.Data!).Index;
        var original = File.ReadAllBytes(wal);
        var dataEnd = victim.Offset + 8 + victim.Raw.Length;
        // A cut inside the record, and a zeroed sector in it: everything from it on is torn.
        foreach (var (name, damage) in new (string, Func<byte[], byte[]>)[]
        {
            ("cut", b => b[..(int)(victim.Offset + (dataEnd - victim.Offset) / 2)]),
            ("hole", b =>
            {
                var c = (byte[])b.Clone();
                Array.Clear(c, (int)((dataEnd - 4096) / 512 * 512), 512);
                return c;
            }),
        })
        {
            var data = t.Sub(name);
            Copy(pristine, data);
            File.WriteAllBytes(wal.Replace(pristine, data), damage(original));
            var (s, st) = NodeStorage.Restart(data, Small(256L << 20));
            s.Close();
            Assert.True(st.Repaired, name);
            AssertEntries(ents.Where(e => e.Index < victimIndex), st.Entries);
        }
        // A flipped bit in it, with whole records after it, is not a lost write: the start refuses.
        var flipped = t.Sub("flip");
        Copy(pristine, flipped);
        var bytes = (byte[])original.Clone();
        bytes[dataEnd - 1] ^= 0x01;
        var walCopy = wal.Replace(pristine, flipped);
        File.WriteAllBytes(walCopy, bytes);
        if (recs.Any(r => r.Offset > victim.Offset))
        {
            var ex = Assert.Throws<WalException>(() => NodeStorage.Restart(flipped, Small(256L << 20)));
            Assert.Contains(ex.Kind, new[] { WalErrorKind.CrcMismatch, WalErrorKind.Corrupt });
            Assert.Equal(walCopy, ex.File);
            Assert.Equal(victim.Offset, ex.Offset);
        }
    }
}
