using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.Storage;
using Raft.Shell.Wal;
using static Raft.Shell.Tests.Wal.WalTestKit;

namespace Raft.Shell.Tests.Wal;

// Inside the namespace: Google.Protobuf 3.36 (dotnet-etcd's) has a global namespace Pb that would hide Core's Pb.
using Pb = Raft.Core.Pb;

/// <summary>
/// Damage to the end of a WAL, byte by byte and sector by sector, through the restart read
/// (open, read, repair once, read again): a torn tail (a cut, or a sector or page that never reached
/// the disk, with whatever was written after it) is cut keeping every whole record before it;
/// damage that is not a lost write, or in a closed segment, refuses naming the file and offset.
/// </summary>
public class TornTailTests
{
    private const long Segment = 64 * 1024;
    private const int Sector = 512;

    private sealed record Frame(long Off, long DataEnd, long End, WalRecord Rec);

    private static (string DataDir, List<Frame> Frames) Build(TempDir t, int saves, int entrySize)
    {
        var data = t.Sub("pristine");
        using (var s = NodeStorage.Create(data, new WalMetadata(1, 2), Small(Segment)))
            for (var i = 1; i <= saves; i++)
                s.Save(new HardState(1, 1, (ulong)i - 1), [Ent((ulong)i, size: entrySize + 37 * i % 300)]);
        var frames = Records(NodeStorage.WalDir(data)).Select(r =>
        {
            var dataEnd = r.Offset + 8 + r.Raw.Length;
            return new Frame(r.Offset, dataEnd, dataEnd + (8 - r.Raw.Length % 8) % 8, r);
        }).ToList();
        return (data, frames);
    }

    // What a restart must recover when exactly `kept` (the first records, in file order) survive.
    private static void AssertRecovered(RestartState st, IEnumerable<Frame> kept, string why)
    {
        var recs = kept.Select(f => f.Rec).ToList();
        var ents = recs.Where(r => r.Type == RecordType.Entry).Select(r => RaftpbMarshal.UnmarshalEntry(r.Data)).ToList();
        var state = recs.Where(r => r.Type == RecordType.State).Select(r => RaftpbMarshal.UnmarshalHardState(r.Data))
            .LastOrDefault() ?? Pb.emptyHardState;
        Assert.True(ents.Select(e => e.Index).SequenceEqual(st.Entries.Select(e => e.Index)),
            $"{why}: expected entries up to {ents.LastOrDefault()?.Index}, got up to {st.Entries.LastOrDefault()?.Index}");
        Assert.True(state.Equals(st.HardState), $"{why}: hard state {st.HardState} instead of {state}");
        for (var i = 0; i < ents.Count; i++) Assert.Equal(ents[i].Data, st.Entries[i].Data);
    }

    private static RestartState RestartOk(string data)
    {
        var (s, st) = NodeStorage.Restart(data, Small(Segment));
        s.Close();
        return st;
    }

    [Fact]
    public void TruncatingAtEveryByteOfTheLastRecordsKeepsEveryWholeRecord()
    {
        using var t = new TempDir();
        var (pristine, frames) = Build(t, saves: 12, entrySize: 40);
        var walFile = Directory.GetFiles(NodeStorage.WalDir(pristine), "*.wal").Single();
        var from = frames[^6].Off;
        var writtenEnd = frames[^1].End;
        var cases = 0;
        for (var cut = from; cut <= writtenEnd + 16; cut++)
        {
            var data = Copy(pristine, t.Sub($"cut{cut}"));
            var wal = walFile.Replace(pristine, data);
            using (var fs = new FileStream(wal, FileMode.Open)) fs.SetLength(cut);
            var st = RestartOk(data);
            var kept = frames.Where(f => f.End <= cut).ToList();
            AssertRecovered(st, kept, $"cut at {cut}");
            var onBoundary = cut >= writtenEnd || frames.Any(f => f.End == cut);
            Assert.True(onBoundary != st.Repaired, $"cut {cut}: repaired {st.Repaired}, boundary {onBoundary}, end {writtenEnd}");
            Assert.Equal(!onBoundary, File.Exists(wal + ".broken"));
            // The repaired log takes appends and reads back whole.
            var (s, again) = NodeStorage.Restart(data, Small(Segment));
            var next = (again.Entries.LastOrDefault()?.Index ?? 0) + 1;
            s.Save(new HardState(1, 1, 0), [Ent(next)]);
            s.Close();
            Assert.Equal(next, RestartOk(data).Entries.Last().Index);
            Directory.Delete(data, recursive: true);
            cases++;
        }
        Assert.True(cases > 300, $"only {cases} cases");
    }

    /// <summary>
    /// A power cut loses unsynced writes in any order: a lost sector or page may sit before pages
    /// that did reach the disk. In the last segment, such a hole and everything after it is a torn
    /// tail (nothing unsynced was acknowledged): the restart keeps every record before the hole.
    /// </summary>
    [Theory]
    [InlineData(Sector)]
    [InlineData(4096)]
    public void ZeroingAnySectorOrPageOfTheLastSegmentRepairsFromTheHoleOn(int hole)
    {
        using var t = new TempDir();
        // Enough records that several holes have whole records after them.
        var (pristine, frames) = Build(t, saves: hole == Sector ? 14 : 60, entrySize: hole == Sector ? 120 : 600);
        var walFile = Directory.GetFiles(NodeStorage.WalDir(pristine), "*.wal").Single();
        var original = File.ReadAllBytes(walFile);
        // The segment's first records (crc, metadata, snapshot) were synced when it was created.
        var created = frames.TakeWhile(f => f.Rec.Type != RecordType.Entry && f.Rec.Type != RecordType.State).Last().End;
        var (repairs, withWholeRecordsAfter) = (0, 0);
        for (long a = created / hole * hole; a < frames[^1].End; a += hole)
        {
            var b = a + hole;
            // Records whose bytes (padding aside) actually change.
            var damaged = frames.Where(f => f.Off < b && f.DataEnd > a
                && original.AsSpan((int)Math.Max(f.Off, a), (int)(Math.Min(f.DataEnd, b) - Math.Max(f.Off, a))).ContainsAnyExcept((byte)0)).ToList();
            if (damaged.Count == 0 || damaged[0].Off < created)
                continue;
            var data = Copy(pristine, t.Sub($"zero{a}"));
            var wal = walFile.Replace(pristine, data);
            using (var fs = new FileStream(wal, FileMode.Open))
            {
                fs.Position = a;
                fs.Write(new byte[hole]);
            }
            var st = RestartOk(data);
            Assert.True(st.Repaired, $"hole at {a}");
            AssertRecovered(st, frames.Where(f => f.End <= damaged[0].Off), $"hole at {a}");
            Assert.True(File.Exists(wal + ".broken"), $"hole at {a}: the damaged segment is kept as .broken");
            repairs++;
            if (frames.Any(f => f.Off >= b))
                withWholeRecordsAfter++;
            Directory.Delete(data, recursive: true);
        }
        Assert.True(repairs >= 3 && withWholeRecordsAfter >= 2, $"{repairs} repairs, {withWholeRecordsAfter} with whole records after the hole");
    }

    /// <summary>
    /// Bytes that are wrong but not zero are not what a lost write leaves: in the middle of the last
    /// segment, with whole records after them, they stop the start naming the file and offset.
    /// </summary>
    [Fact]
    public void GarbageInTheLastSegmentWithWholeRecordsAfterItRefuses()
    {
        using var t = new TempDir();
        var (pristine, frames) = Build(t, saves: 14, entrySize: 120);
        var walFile = Directory.GetFiles(NodeStorage.WalDir(pristine), "*.wal").Single();
        var cases = 0;
        foreach (var victim in frames.Where(f => f.Rec.Type == RecordType.Entry).SkipLast(2))
        {
            var data = Copy(pristine, t.Sub($"flip{victim.Off}"));
            var wal = walFile.Replace(pristine, data);
            var bytes = File.ReadAllBytes(wal);
            // Flip one bit in the record's payload (its last data byte).
            bytes[victim.DataEnd - 1] ^= 0x01;
            File.WriteAllBytes(wal, bytes);
            var ex = Assert.Throws<WalException>(() => NodeStorage.Restart(data, Small(Segment)));
            Assert.Contains(ex.Kind, new[] { WalErrorKind.CrcMismatch, WalErrorKind.Corrupt });
            Assert.Equal(wal, ex.File);
            Assert.Equal(victim.Off, ex.Offset);
            Directory.Delete(data, recursive: true);
            cases++;
        }
        Assert.True(cases >= 5, $"only {cases} cases");
    }

    [Fact]
    public void ZeroingAnySectorOfAClosedSegmentRefuses()
    {
        using var t = new TempDir();
        var data = t.Sub("pristine");
        using (var s = NodeStorage.Create(data, new WalMetadata(1, 2), Small(4096)))
            for (ulong i = 1; i <= 40; i++) s.Save(new HardState(1, 1, i - 1), [Ent(i, size: 150)]);
        var files = Directory.GetFiles(NodeStorage.WalDir(data), "*.wal").Order().ToArray();
        Assert.True(files.Length >= 3);
        var recs = Records(NodeStorage.WalDir(data));
        var closed = files[0];
        var original = File.ReadAllBytes(closed);
        var cases = 0;
        for (long a = 0; a < original.Length; a += Sector)
        {
            var copy = Copy(data, t.Sub($"z{a}"));
            var path = closed.Replace(data, copy);
            var bytes = (byte[])original.Clone();
            Array.Clear(bytes, (int)a, (int)Math.Min(Sector, bytes.Length - a));
            File.WriteAllBytes(path, bytes);
            var ex = Assert.Throws<WalException>(() => NodeStorage.Restart(copy, Small(4096)));
            Assert.Contains(ex.Kind, new[] { WalErrorKind.CrcMismatch, WalErrorKind.Corrupt });
            var first = recs.First(r => r.File == closed && r.Offset + 8 + r.Raw.Length > a);
            if (bytes.AsSpan((int)first.Offset).ContainsAnyExcept((byte)0))
            {
                Assert.Equal(path, ex.File);
                Assert.Equal(first.Offset, ex.Offset);
            }
            else
            {
                // The rest of the segment is gone entirely: the next segment's CRC no longer chains.
                Assert.Equal(files[1].Replace(data, copy), ex.File);
                Assert.Equal(0, ex.Offset);
            }
            Directory.Delete(copy, recursive: true);
            cases++;
        }
        Assert.True(cases >= 4);
    }
}
