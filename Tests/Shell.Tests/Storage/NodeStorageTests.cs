using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.Snap;
using Raft.Shell.Storage;
using Raft.Shell.Wal;
using static Raft.Shell.Tests.Wal.WalTestKit;

namespace Raft.Shell.Tests.Storage;

// Inside the namespace: Google.Protobuf 3.36 (dotnet-etcd's) has a global namespace Pb that would hide Core's Pb.
using Pb = Raft.Core.Pb;

public class NodeStorageTests
{
    private static Snapshot Snap(ulong index, ulong term) => new([7, 7], new SnapshotMetadata(Voters(1), index, term));

    [Fact]
    public void RestartRecoversMetadataSnapshotStateAndTheEntriesAfterTheSnapshot()
    {
        using var t = new TempDir();
        using (var s = NodeStorage.Create(t.Path, new WalMetadata(7, 42), Small()))
        {
            s.Save(new HardState(2, 1, 3), Ents(1, 4, term: 2));
            s.SaveSnap(Snap(3, 2));
            s.Save(new HardState(2, 1, 5), Ents(5, 6, term: 2));
        }
        Assert.True(NodeStorage.Exists(t.Path));
        var (storage, st) = NodeStorage.Restart(t.Path, Small());
        using (storage)
        {
            Assert.Equal(new WalMetadata(7, 42), st.Metadata);
            Assert.Equal(Snap(3, 2), st.Snapshot);
            Assert.Equal(new HardState(2, 1, 5), st.HardState);
            AssertEntries(Ents(4, 6, term: 2), st.Entries);
            Assert.False(st.Repaired);
            storage.Save(new HardState(2, 1, 6), Ents(7, 7, term: 2));
        }
        var (again, st2) = NodeStorage.Restart(t.Path, Small());
        again.Close();
        AssertEntries(Ents(4, 7, term: 2), st2.Entries);
    }

    [Fact]
    public void ASnapshotNotYetCommittedInTheWalIsNotLoaded()
    {
        using var t = new TempDir();
        using (var s = NodeStorage.Create(t.Path, new WalMetadata(1, 1), Small()))
        {
            s.Save(new HardState(1, 1, 2), Ents(1, 4));
            s.SaveSnap(Snap(4, 1)); // commit is 2: a restart must not start from index 4
        }
        var (storage, st) = NodeStorage.Restart(t.Path, Small());
        storage.Close();
        Assert.True(Pb.isEmptySnap(st.Snapshot));
        AssertEntries(Ents(1, 4), st.Entries);
    }

    [Fact]
    public void SaveSnapWritesTheFileBeforeTheWalRecord()
    {
        using var t = new TempDir();
        using var s = NodeStorage.Create(t.Path, new WalMetadata(1, 1), Small());
        s.Save(new HardState(1, 1, 3), Ents(1, 3));
        // Make the snap file impossible to write: the WAL must then not get the record either.
        Directory.Delete(NodeStorage.SnapDir(t.Path));
        File.WriteAllBytes(NodeStorage.SnapDir(t.Path), []);
        Assert.ThrowsAny<IOException>(() => s.SaveSnap(Snap(3, 1)));
        s.Close();
        Assert.DoesNotContain(Records(NodeStorage.WalDir(t.Path)), r => r.Type == RecordType.Snapshot && WalSnapshot.Unmarshal(r.Data).Index == 3);
    }

    [Fact]
    public void RestartRepairsATornTailOnce()
    {
        using var t = new TempDir();
        using (var s = NodeStorage.Create(t.Path, new WalMetadata(1, 1), Small()))
            s.Save(new HardState(1, 1, 1), Ents(1, 3, size: 700));
        var recs = Records(NodeStorage.WalDir(t.Path));
        var last = recs[^1];
        // Zero the sector holding the end of the last record: a torn write.
        using (var fs = new FileStream(last.File, FileMode.Open))
        {
            var end = last.Offset + 8 + last.Raw.Length;
            fs.Position = (end - 1) / 512 * 512;
            fs.Write(new byte[512]);
        }
        var (storage, st) = NodeStorage.Restart(t.Path, Small());
        storage.Close();
        Assert.True(st.Repaired);
        Assert.True(File.Exists(last.File + ".broken"));
        AssertEntries(Ents(1, 2, size: 700), st.Entries);
    }

    [Fact]
    public void ReleaseUnlocksOldSegmentsForPurge()
    {
        using var t = new TempDir();
        using var s = NodeStorage.Create(t.Path, new WalMetadata(1, 1), Small(4096));
        for (ulong i = 1; i <= 50; i++) s.Save(new HardState(1, 1, i), [Ent(i, size: 200)]);
        s.SaveSnap(Snap(45, 1));
        var before = Directory.GetFiles(NodeStorage.WalDir(t.Path), "*.wal").Length;
        s.Release(Snap(45, 1));
        s.Purge(keepWalFiles: 1, keepSnapFiles: 1);
        var after = Directory.GetFiles(NodeStorage.WalDir(t.Path), "*.wal").Length;
        Assert.True(after < before && after == s.Wal.LockedFiles.Count, $"{before} -> {after}");
        s.Close();
        var (again, st) = NodeStorage.Restart(t.Path, Small(4096));
        again.Close();
        Assert.Equal(45UL, st.Snapshot.Metadata.Index);
        AssertEntries(Enumerable.Range(46, 5).Select(i => Ent((ulong)i, size: 200)), st.Entries);
    }
}
