using Google.Protobuf;
using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.Wal;
using static Raft.Shell.Tests.Wal.WalTestKit;
using WalLog = Raft.Shell.Wal.Wal;

namespace Raft.Shell.Tests.Wal;

// Inside the namespace: Google.Protobuf 3.36 (dotnet-etcd's) has a global namespace Pb that would hide Core's Pb.
using Pb = Raft.Core.Pb;

public class WalTests
{
    [Fact]
    public void CreateWritesTheFirstSegmentAtomically()
    {
        using var t = new TempDir();
        var dir = t.Sub("wal");
        using (var w = WalLog.Create(dir, Meta, Small()))
            Assert.Equal([Path.Combine(dir, "0000000000000000-0000000000000000.wal")], w.LockedFiles);
        Assert.False(Directory.Exists(dir + ".tmp"));
        var first = Path.Combine(dir, "0000000000000000-0000000000000000.wal");
        Assert.Equal(16 * 1024, new FileInfo(first).Length); // preallocated
        var recs = Records(dir);
        Assert.Equal([RecordType.Crc, RecordType.Metadata, RecordType.Snapshot], recs.Select(r => r.Type));
        Assert.Equal(0u, recs[0].Crc);
        Assert.Null(recs[0].Data);
        Assert.Equal(Meta, recs[1].Data);
        Assert.Equal(WalSnapshot.Empty, WalSnapshot.Unmarshal(recs[2].Data));
        // The first frame: a 4-byte crc record padded to 8: length 4 with 0x80|4 in the top byte.
        var head = File.ReadAllBytes(first)[..16];
        Assert.Equal(Convert.FromHexString("0400000000000084" + "0804100000000000"), head);
    }

    [Fact]
    public void CreateRefusesAnExistingWal()
    {
        using var t = new TempDir();
        WalLog.Create(t.Path, Meta, Small()).Dispose();
        var ex = Assert.Throws<WalException>(() => WalLog.Create(t.Path, Meta, Small()));
        Assert.Equal(WalErrorKind.AlreadyExists, ex.Kind);
    }

    [Fact]
    public void EveryRecordIsGogoprotoEncodedWithARunningCrc()
    {
        using var t = new TempDir();
        using (var w = WalLog.Create(t.Path, Meta, Small()))
            w.Save(new HardState(1, 1, 3), Ents(1, 3));
        var crc = 0u;
        foreach (var r in Records(t.Path))
        {
            var expected = new Raft.Interop.Walpb.Record { Type = r.Type, Crc = r.Crc };
            if (r.Data is not null) expected.Data = ByteString.CopyFrom(r.Data);
            Assert.Equal(expected.ToByteArray(), r.Raw.ToArray());
            if (r.Type != RecordType.Crc) crc = Crc32C.Update(crc, r.Data);
            Assert.Equal(crc, r.Crc);
        }
    }

    [Fact]
    public void SaveThenReadAllReturnsMetadataStateAndEntries()
    {
        using var t = new TempDir();
        using (var w = WalLog.Create(t.Path, Meta, Small()))
        {
            w.Save(new HardState(1, 1, 0), Ents(1, 5));
            w.Save(new HardState(2, 1, 5), Ents(6, 7, term: 2));
        }
        var got = Reopen(t.Path);
        Assert.Equal(Meta, got.Metadata);
        Assert.Equal(new HardState(2, 1, 5), got.State);
        AssertEntries(Ents(1, 5).Concat(Ents(6, 7, term: 2)), got.Entries);
    }

    /// <summary>
    /// A follower's log was cut back to an index at or before its later snapshot and rewritten
    /// there: the entries after the snapshot that were written before the cut are stale, and a
    /// restart from the snapshot must not return them (etcd 3.5's ReadAll did).
    /// </summary>
    [Fact]
    public void EntriesOverwrittenAtOrBeforeTheSnapshotAreNotReturned()
    {
        using var t = new TempDir();
        var none = Microsoft.FSharp.Collections.FSharpList<ulong>.Empty;
        var voters = Microsoft.FSharp.Collections.ListModule.OfSeq(new[] { 1UL, 2UL, 3UL });
        var snap = new WalSnapshot(4, 2, new ConfState(voters, none, none, none, false));
        using (var w = WalLog.Create(t.Path, Meta, Small()))
        {
            w.Save(new HardState(1, 1, 2), Ents(1, 10));
            // A new leader of term 2 cuts the log back to 2 and rewrites 3 and 4, which then commit
            // and are snapshotted.
            w.Save(new HardState(2, 2, 4), Ents(3, 4, term: 2));
            w.SaveSnapshot(snap);
        }
        var got = Reopen(t.Path, snap);
        Assert.Equal(new HardState(2, 2, 4), got.State);
        Assert.Empty(got.Entries);

        // Entries after the snapshot that follow the cut are kept.
        using (var w = WalLog.Open(t.Path, snap, Small()))
        {
            w.ReadAll();
            w.Save(new HardState(2, 2, 5), Ents(5, 6, term: 2));
        }
        AssertEntries(Ents(5, 6, term: 2), Reopen(t.Path, snap).Entries);
    }

    [Fact]
    public void ReopenedWalAppendsAfterWhatItRead()
    {
        using var t = new TempDir();
        using (var w = WalLog.Create(t.Path, Meta, Small())) w.Save(new HardState(1, 1, 1), Ents(1, 2));
        using (var w = WalLog.Open(t.Path, WalSnapshot.Empty, Small()))
        {
            w.ReadAll();
            w.Save(new HardState(1, 1, 3), Ents(3, 4));
        }
        var got = Reopen(t.Path);
        AssertEntries(Ents(1, 4), got.Entries);
        Assert.Equal(new HardState(1, 1, 3), got.State);
    }

    [Fact]
    public void LaterEntriesOverwriteFromTheirIndexOn()
    {
        using var t = new TempDir();
        using (var w = WalLog.Create(t.Path, Meta, Small()))
        {
            w.Save(new HardState(1, 1, 1), Ents(1, 5));
            w.Save(new HardState(2, 2, 2), Ents(3, 4, term: 2));
        }
        AssertEntries(Ents(1, 2).Concat(Ents(3, 4, term: 2)), Reopen(t.Path).Entries);
    }

    [Fact]
    public void AGapInTheEntriesIsAnError()
    {
        using var t = new TempDir();
        using (var w = WalLog.Create(t.Path, Meta, Small()))
        {
            w.Save(Pb.emptyHardState, Ents(1, 2));
            w.Save(Pb.emptyHardState, Ents(5, 5));
        }
        var ex = Assert.Throws<WalException>(() => Reopen(t.Path));
        Assert.Equal(WalErrorKind.SliceOutOfRange, ex.Kind);
        Assert.EndsWith(".wal", ex.File);
        Assert.Equal(Records(t.Path).Last().Offset, ex.Offset);
    }

    [Fact]
    public void OpenAtASnapshotSkipsEntriesItCovers()
    {
        using var t = new TempDir();
        var snap = new WalSnapshot(5, 1, Voters(1));
        using (var w = WalLog.Create(t.Path, Meta, Small()))
        {
            w.Save(new HardState(1, 1, 5), Ents(1, 6));
            w.SaveSnapshot(snap);
            w.Save(new HardState(1, 1, 7), Ents(7, 8));
        }
        AssertEntries(Ents(6, 8), Reopen(t.Path, snap).Entries);
        Assert.Equal(WalErrorKind.SnapshotMismatch,
            Assert.Throws<WalException>(() => Reopen(t.Path, new WalSnapshot(5, 9, Voters(1)))).Kind);
        Assert.Equal(WalErrorKind.SnapshotNotFound,
            Assert.Throws<WalException>(() => Reopen(t.Path, new WalSnapshot(6, 1, Voters(1)))).Kind);
    }

    [Fact]
    public void SnapshotPastIndexZeroNeedsAConfState()
    {
        using var t = new TempDir();
        using var w = WalLog.Create(t.Path, Meta, Small());
        Assert.Throws<ArgumentException>(() => w.SaveSnapshot(new WalSnapshot(3, 1, null)));
    }

    [Fact]
    public void AnOpenedWalMustBeReadBeforeAppending()
    {
        using var t = new TempDir();
        WalLog.Create(t.Path, Meta, Small()).Dispose();
        using var w = WalLog.Open(t.Path, WalSnapshot.Empty, Small());
        Assert.Throws<InvalidOperationException>(() => w.Save(new HardState(1, 0, 0), Ents(1, 1)));
    }

    [Fact]
    public void AWalOpenedForReadCannotAppend()
    {
        using var t = new TempDir();
        WalLog.Create(t.Path, Meta, Small()).Dispose();
        using var w = WalLog.OpenForRead(t.Path, WalSnapshot.Empty);
        w.ReadAll();
        Assert.Throws<InvalidOperationException>(() => w.Save(new HardState(1, 0, 0), Ents(1, 1)));
    }

    [Fact]
    public void OpeningTwiceIsRefusedByTheLock()
    {
        using var t = new TempDir();
        using var w = WalLog.Create(t.Path, Meta, Small());
        var ex = Assert.Throws<WalException>(() => WalLog.Open(t.Path, WalSnapshot.Empty, Small()));
        Assert.Equal(WalErrorKind.Locked, ex.Kind);
        w.Close();
        using var again = WalLog.Open(t.Path, WalSnapshot.Empty, Small());
        again.ReadAll();
    }

    [Fact]
    public void OpenWithoutSegmentsIsFileNotFound()
    {
        using var t = new TempDir();
        Assert.Equal(WalErrorKind.FileNotFound, Assert.Throws<WalException>(() => WalLog.Open(t.Path, WalSnapshot.Empty)).Kind);
    }

    [Fact]
    public void TheTailPositionIsTheNewestSegmentUpToWhereReopeningFindsTheLastRecord()
    {
        using var t = new TempDir();
        WalTailPosition? written;
        using (var w = WalLog.Create(t.Path, Meta, Small(4096)))
        {
            var cuts = 0;
            var last = w.TailPosition!;
            for (ulong i = 1; i <= 40; i++)
            {
                w.Save(new HardState(1, 1, i - 1), [Ent(i, size: 200)]);
                var now = w.TailPosition!;
                if (now.FileName == last.FileName) Assert.True(now.Offset > last.Offset, $"{now} after {last}");
                else cuts++;
                last = now;
            }
            Assert.True(cuts >= 2, $"{cuts} cuts");
            written = w.TailPosition;
        }
        var names = Directory.GetFiles(t.Path, "*.wal").Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(names[^1], written!.FileName);
        // The segment is preallocated: its length on disk is not what it holds.
        Assert.True(written.Offset < new FileInfo(Path.Combine(t.Path, written.FileName)).Length);
        using var reopened = WalLog.Open(t.Path, WalSnapshot.Empty, Small(4096));
        Assert.Null(reopened.TailPosition);
        reopened.ReadAll();
        Assert.Equal(written, reopened.TailPosition);
    }

    [Fact]
    public void SegmentsAreCutPastTheSizeAndChainTheirCrc()
    {
        using var t = new TempDir();
        using (var w = WalLog.Create(t.Path, Meta, Small(4096)))
            for (ulong i = 1; i <= 60; i++) w.Save(new HardState(1, 1, i - 1), [Ent(i, size: 200)]);
        var names = Directory.GetFiles(t.Path, "*.wal").Select(Path.GetFileName).Order().ToArray();
        Assert.True(names.Length >= 3, string.Join(",", names));
        Assert.False(File.Exists(Path.Combine(t.Path, "0.tmp")) || File.Exists(Path.Combine(t.Path, "1.tmp")));
        var recs = Records(t.Path);
        for (var s = 1; s < names.Length; s++)
        {
            Assert.True(WalNames.TryParse(names[s]!, out var seq, out var index));
            Assert.Equal((ulong)s, seq);
            var inSeg = recs.Where(r => Path.GetFileName(r.File) == names[s]).ToList();
            // Each segment opens with the chain's CRC so far, the metadata and the last hard state.
            Assert.Equal([RecordType.Crc, RecordType.Metadata, RecordType.State], inSeg.Take(3).Select(r => r.Type));
            var prev = recs[recs.IndexOf(inSeg[0]) - 1];
            Assert.Equal(prev.Crc, inSeg[0].Crc);
            // Its name says the first entry it may hold.
            var firstEntry = inSeg.First(r => r.Type == RecordType.Entry);
            Assert.Equal(index, RaftpbMarshal.UnmarshalEntry(firstEntry.Data).Index);
        }
        // A closed segment is cut to its written length; the last stays preallocated.
        Assert.True(new FileInfo(Path.Combine(t.Path, names[0]!)).Length <= 4096 + 1024);
        Assert.Equal(4096, new FileInfo(Path.Combine(t.Path, names[^1]!)).Length);
        var got = Reopen(t.Path, options: Small(4096));
        AssertEntries(Enumerable.Range(1, 60).Select(i => Ent((ulong)i, size: 200)), got.Entries);
        Assert.Equal(new HardState(1, 1, 59), got.State);
    }

    [Fact]
    public void ReleaseLockToLetsPurgeRemoveOldSegments()
    {
        using var t = new TempDir();
        using var w = WalLog.Create(t.Path, Meta, Small(4096));
        for (ulong i = 1; i <= 60; i++) w.Save(new HardState(1, 1, i), [Ent(i, size: 200)]);
        var names = Directory.GetFiles(t.Path, "*.wal").Order().ToArray();
        Assert.True(names.Length >= 4);
        Assert.Empty(WalInspect.Purge(t.Path, 1)); // all still locked
        WalNames.TryParse(Path.GetFileName(names[3]), out _, out var index3);
        w.ReleaseLockTo(index3);
        // Segments 0 and 1 are released; 2 (the newest before index3) stays locked.
        Assert.Equal(names[2..], w.LockedFiles);
        Assert.Equal(names[..2], WalInspect.Purge(t.Path, 1));
        Assert.Equal(names[2..], Directory.GetFiles(t.Path, "*.wal").Order());
        w.Save(new HardState(1, 1, 61), [Ent(61)]);
        w.Close();
        var snap = new WalSnapshot(index3, 1, Voters(1));
        // Nothing records a snapshot there, but the segments covering it still open and chain.
        Assert.Equal(WalErrorKind.SnapshotNotFound, Assert.Throws<WalException>(() => Reopen(t.Path, snap, Small(4096))).Kind);
    }

    [Fact]
    public void ValidSnapshotEntriesAreThoseCommitted()
    {
        using var t = new TempDir();
        using (var w = WalLog.Create(t.Path, Meta, Small()))
        {
            w.Save(new HardState(1, 1, 3), Ents(1, 4));
            w.SaveSnapshot(new WalSnapshot(2, 1, Voters(1)));
            w.SaveSnapshot(new WalSnapshot(4, 1, Voters(1)));
        }
        Assert.Equal([WalSnapshot.Empty.Index, 2UL], WalInspect.ValidSnapshotEntries(t.Path).Select(s => s.Index));
        Assert.Equal(new HardState(1, 1, 3), WalInspect.Verify(t.Path, new WalSnapshot(2, 1, null)));
    }

    [Fact]
    public void MetadataThatChangesBetweenSegmentsIsAConflict()
    {
        using var t = new TempDir();
        using (var w = WalLog.Create(t.Path, Meta, Small(4096)))
            for (ulong i = 1; i <= 30; i++) w.Save(new HardState(1, 1, i), [Ent(i, size: 200)]);
        // Rewrite the second segment with other metadata but a consistent CRC chain.
        var names = Directory.GetFiles(t.Path, "*.wal").Order().ToArray();
        var recs = Records(t.Path);
        var second = recs.Where(r => r.File == names[1]).ToList();
        var prevCrc = recs[recs.IndexOf(second[0]) - 1].Crc;
        File.WriteAllBytes(names[1], []);
        using (var f = Raft.Shell.IO.LockedFile.TryOpen(names[1], FileMode.Open, FileAccess.ReadWrite)!)
        {
            var enc = new WalEncoder(f, prevCrc, 0);
            enc.Encode(RecordType.Crc, [], false);
            enc.Encode(RecordType.Metadata, new WalMetadata(1, 99).Marshal(), true);
            enc.Flush();
        }
        for (var i = 2; i < names.Length; i++) File.Delete(names[i]);
        var ex = Assert.Throws<WalException>(() => Reopen(t.Path, options: Small(4096)));
        Assert.Equal(WalErrorKind.MetadataConflict, ex.Kind);
        Assert.Equal(names[1], ex.File);
    }
}
