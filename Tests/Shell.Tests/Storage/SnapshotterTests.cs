using Google.Protobuf;
using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.Snap;
using static Raft.Shell.Tests.Wal.WalTestKit;

namespace Raft.Shell.Tests.Storage;

// Inside the namespace: Google.Protobuf 3.36 (dotnet-etcd's) has a global namespace Pb that would hide Core's Pb.
using Pb = Raft.Core.Pb;

public class SnapshotterTests
{
    private static Snapshot Snap(ulong index, ulong term, string data = "state") =>
        new(System.Text.Encoding.ASCII.GetBytes(data + index), new SnapshotMetadata(Voters(1, 2), index, term));

    [Fact]
    public void SaveWritesANamedFileThatReadsBack()
    {
        using var t = new TempDir();
        var s = new Snapshotter(t.Path);
        s.SaveSnap(Snap(0x20, 3));
        var path = Path.Combine(t.Path, "0000000000000003-0000000000000020.snap");
        Assert.Equal(Snap(0x20, 3), Snapshotter.Read(path));
        // snappb.snapshot: crc (field 1) of the data, then data (field 2), the marshalled raftpb.Snapshot.
        var raw = Raft.Interop.Snappb.snapshot.Parser.ParseFrom(File.ReadAllBytes(path));
        Assert.Equal(RaftpbMarshal.Marshal(Snap(0x20, 3)), raw.Data.ToByteArray());
        Assert.Equal(Raft.Shell.Wal.Crc32C.Compute(raw.Data.Span), raw.Crc);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(127)]
    [InlineData(128)]
    [InlineData(16_383)]
    [InlineData(16_384)]
    [InlineData(2_097_152)]
    [InlineData(9_000_001)]
    public void TheFileIsWhatMarshallingBothMessagesGives(int dataLength)
    {
        // The file is written in pieces, without copying the data; it must equal the protobuf
        // library's encoding of snappb.snapshot { crc, data = marshalled raftpb.Snapshot }.
        using var t = new TempDir();
        var data = new byte[dataLength];
        new Random(dataLength).NextBytes(data);
        var snap = new Snapshot(data, new SnapshotMetadata(Voters(1, 2, 3), 0x1234567, 9));
        new Snapshotter(t.Path).SaveSnap(snap);
        var marshalled = RaftpbMarshal.Marshal(snap);
        var expected = new Raft.Interop.Snappb.snapshot
        {
            Crc = Raft.Shell.Wal.Crc32C.Compute(marshalled),
            Data = ByteString.CopyFrom(marshalled),
        }.ToByteArray();
        Assert.Equal(expected, File.ReadAllBytes(Path.Combine(t.Path, Snapshotter.FileName(9, 0x1234567))));
    }

    [Fact]
    public void AnEmptySnapshotIsNotWritten()
    {
        using var t = new TempDir();
        new Snapshotter(t.Path).SaveSnap(Pb.emptySnapshot);
        Assert.Empty(Directory.GetFiles(t.Path));
        Assert.Null(new Snapshotter(t.Path).Load());
    }

    [Fact]
    public void LoadTakesTheNewestAndLoadNewestAvailableTheNewestTheWalKnows()
    {
        using var t = new TempDir();
        var s = new Snapshotter(t.Path);
        s.SaveSnap(Snap(5, 1));
        s.SaveSnap(Snap(10, 2));
        s.SaveSnap(Snap(15, 2));
        Assert.Equal(15UL, s.Load()!.Metadata.Index);
        Assert.Equal(10UL, s.LoadNewestAvailable([new WalSnapshot(5, 1, null), new WalSnapshot(10, 2, null)])!.Metadata.Index);
        Assert.Null(s.LoadNewestAvailable([new WalSnapshot(10, 3, null)]));
    }

    [Fact]
    public void ACorruptFileIsRenamedBrokenAndTheNextOneLoads()
    {
        using var t = new TempDir();
        var s = new Snapshotter(t.Path);
        s.SaveSnap(Snap(5, 1));
        s.SaveSnap(Snap(10, 1));
        var newest = Path.Combine(t.Path, Snapshotter.FileName(1, 10));
        var bytes = File.ReadAllBytes(newest);
        bytes[^1] ^= 0xff;
        File.WriteAllBytes(newest, bytes);
        Assert.Equal(SnapshotErrorKind.CrcMismatch, Assert.Throws<SnapshotException>(() => Snapshotter.Read(newest)).Kind);
        Assert.Equal(5UL, s.Load()!.Metadata.Index);
        Assert.True(File.Exists(newest + ".broken"));
        Assert.False(File.Exists(newest));
    }

    [Fact]
    public void EmptyAndUndecodableFilesAreErrors()
    {
        using var t = new TempDir();
        var empty = Path.Combine(t.Path, Snapshotter.FileName(1, 1));
        File.WriteAllBytes(empty, []);
        Assert.Equal(SnapshotErrorKind.Empty, Assert.Throws<SnapshotException>(() => Snapshotter.Read(empty)).Kind);
        var junk = Path.Combine(t.Path, Snapshotter.FileName(1, 2));
        File.WriteAllBytes(junk, [0x0a, 0x05, 0x01]);
        Assert.Equal(SnapshotErrorKind.Corrupt, Assert.Throws<SnapshotException>(() => Snapshotter.Read(junk)).Kind);
    }

    [Fact]
    public void PurgeKeepsTheNewest()
    {
        using var t = new TempDir();
        var s = new Snapshotter(t.Path);
        foreach (var i in new ulong[] { 1, 2, 3, 4 }) s.SaveSnap(Snap(i, 1));
        Assert.Equal(2, s.Purge(2).Count);
        Assert.Equal([Snapshotter.FileName(1, 3), Snapshotter.FileName(1, 4)],
            Directory.GetFiles(t.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void ReleaseSnapDBsRemovesOlderStateMachineFiles()
    {
        using var t = new TempDir();
        foreach (var i in new[] { 3, 9, 12 }) File.WriteAllBytes(Path.Combine(t.Path, $"{i:x16}.snap.db"), [1]);
        new Snapshotter(t.Path).ReleaseSnapDBs(Snap(9, 1));
        Assert.Equal([$"{9:x16}.snap.db", $"{12:x16}.snap.db"], Directory.GetFiles(t.Path).Select(Path.GetFileName).Order());
    }
}
