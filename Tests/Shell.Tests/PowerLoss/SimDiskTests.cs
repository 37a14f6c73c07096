namespace Raft.Shell.Tests.PowerLoss;

/// <summary>The simulated disk keeps what a real one keeps across a power cut, and no more.</summary>
public class SimDiskTests
{
    private static readonly string Root = Path.Combine(Path.GetTempPath(), "raft-simdisk");

    private static string P(string name) => Path.Combine(Root, name);

    private static byte[] Bytes(int n, byte value) => Enumerable.Repeat(value, n).ToArray();

    private static SimDisk WithSyncedFile(string name, byte[] content)
    {
        var d = new SimDisk(Root);
        using (var f = d.TryOpenLocked(P(name), FileMode.CreateNew, FileAccess.ReadWrite)!)
        {
            f.Write(content, 0);
            f.Fdatasync();
        }
        d.FsyncDirectory(Root);
        return d;
    }

    [Fact]
    public void SyncedDataSurvivesAndUnsyncedDataIsDropped()
    {
        var d = WithSyncedFile("a", Bytes(100, 1));
        using (var f = d.TryOpenLocked(P("a"), FileMode.Open, FileAccess.ReadWrite)!)
            f.Write(Bytes(50, 2), 100);
        Assert.Equal(150, d.ReadAllBytes(P("a")).Length);
        var after = d.PowerCut(CutMode.DropAll, new Random(1));
        Assert.Equal(Bytes(100, 1), after.ReadAllBytes(P("a")));
    }

    [Fact]
    public void ANameIsDurableOnlyOnceItsDirectoryIsSynced()
    {
        var d = new SimDisk(Root);
        using (var f = d.TryOpenLocked(P("a"), FileMode.CreateNew, FileAccess.ReadWrite)!)
        {
            f.Write(Bytes(10, 1), 0);
            f.Fsync();
        }
        Assert.False(d.PowerCut(CutMode.Tear, new Random(1)).FileExists(P("a")));

        var renamed = WithSyncedFile("a", Bytes(10, 1));
        renamed.MoveFile(P("a"), P("b"));
        var after = renamed.PowerCut(CutMode.DropAll, new Random(1));
        Assert.True(after.FileExists(P("a")) && !after.FileExists(P("b")));

        var synced = WithSyncedFile("a", Bytes(10, 1));
        synced.MoveFile(P("a"), P("b"));
        synced.FsyncDirectory(Root);
        var kept = synced.PowerCut(CutMode.DropAll, new Random(1));
        Assert.True(!kept.FileExists(P("a")) && kept.FileExists(P("b")));
        Assert.Equal(Bytes(10, 1), kept.ReadAllBytes(P("b")));
    }

    [Fact]
    public void ADeadDiskAndItsOpenFilesFail()
    {
        var d = WithSyncedFile("a", Bytes(10, 1));
        var f = d.TryOpenLocked(P("a"), FileMode.Open, FileAccess.ReadWrite)!;
        d.PowerCut(CutMode.DropAll, new Random(1));
        Assert.Throws<IOException>(() => f.Write(Bytes(1, 1), 0));
        Assert.Throws<IOException>(() => f.Fdatasync());
        Assert.Throws<IOException>(() => d.FileExists(P("a")));
        f.Dispose();
    }

    [Fact]
    public void ALockedFileCannotBeLockedAgainUntilClosed()
    {
        var d = WithSyncedFile("a", Bytes(10, 1));
        var f = d.TryOpenLocked(P("a"), FileMode.Open, FileAccess.ReadWrite);
        Assert.NotNull(f);
        Assert.Null(d.TryOpenLocked(P("a"), FileMode.Open, FileAccess.ReadWrite));
        f!.Dispose();
        using var again = d.TryOpenLocked(P("a"), FileMode.Open, FileAccess.ReadWrite);
        Assert.NotNull(again);
    }

    [Fact]
    public void DirectWritesMustBeAligned()
    {
        var d = new SimDisk(Root);
        using var f = d.CreateForWrite(P("s"), tryDirect: true, out var direct);
        Assert.True(direct);
        Assert.Throws<IOException>(() => f.Write(Bytes(100, 1), 0));
        f.Write(Bytes(4096, 1), 0);
        f.SetLength(100);
        Assert.Equal(100, f.Length);
    }

    /// <summary>
    /// Tearing keeps each sector as it was at some moment: a sector never holds a later write
    /// without the earlier writes to it, but across sectors any mix happens, including a later
    /// sector kept while an earlier one is lost.
    /// </summary>
    [Fact]
    public void TearingKeepsEachSectorAsOfSomeMomentAndSectorsIndependently()
    {
        var (laterKeptEarlierLost, mixedWithinSector) = (0, 0);
        for (var seed = 0; seed < 200; seed++)
        {
            var d = WithSyncedFile("a", []);
            using (var f = d.TryOpenLocked(P("a"), FileMode.Open, FileAccess.ReadWrite)!)
            {
                // Two sectors, each written in two halves: first half then second half, in order.
                f.Write(Bytes(256, 1), 0);
                f.Write(Bytes(256, 2), 256);
                f.Write(Bytes(256, 3), 512);
                f.Write(Bytes(256, 4), 768);
            }
            var b = d.PowerCut(CutMode.Tear, new Random(seed)).ReadAllBytes(P("a"));
            var s = new byte[1024];
            b.AsSpan(0, Math.Min(b.Length, 1024)).CopyTo(s);
            for (var sector = 0; sector < 2; sector++)
                if (s[sector * 512] == 0 && s[sector * 512 + 256] != 0) mixedWithinSector++;
            if (s[0] == 0 && s[512] != 0) laterKeptEarlierLost++;
        }
        Assert.Equal(0, mixedWithinSector);
        Assert.True(laterKeptEarlierLost > 0);
    }
}
