using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.Storage;
using Raft.Shell.Wal;
using Xunit.Abstractions;
using static Raft.Shell.Tests.Wal.WalTestKit;

namespace Raft.Shell.Tests.PowerLoss;

/// <summary>
/// The WAL, snap files and storage on a disk that loses what was not synced: every Save that
/// returned survives a power cut; a tail torn sector by sector, in any order, restarts cleanly.
/// Each check is shown to catch a storage that skips one of its syncs.
/// </summary>
public class StoragePowerLossTests(ITestOutputHelper output)
{
    private const long SmallSegment = 8 * 1024;

    private static WalOptions Options(SimDisk disk, long segment = SmallSegment, bool noFsync = false) =>
        new() { FileSystem = disk, SegmentSizeBytes = segment, UnsafeNoFsync = noFsync };

    private static string Root() => Path.Combine(Path.GetTempPath(), "raft-sim-" + Guid.NewGuid().ToString("N")[..12]);

    private static Snapshot Snap(ulong index) => new([7, 7], new SnapshotMetadata(Voters(1), index, 1));

    /// <summary>
    /// What a restart recovers must hold every acknowledged entry (up to <paramref name="acked"/>),
    /// each with its own bytes, contiguously from the snapshot; null when it does, else what is wrong.
    /// </summary>
    private static string? Check(SimDisk disk, ulong acked, Func<ulong, Entry> expected, WalOptions options) =>
        Check(disk, acked, expected, options, out _);

    private static string? Check(SimDisk disk, ulong acked, Func<ulong, Entry> expected, WalOptions options, out bool repaired)
    {
        repaired = false;
        RestartState st;
        try
        {
            var (s, state) = NodeStorage.Restart(disk.Root, options);
            s.Close();
            st = state;
        }
        catch (Exception ex) when (ex is WalException or IOException)
        {
            return $"restart failed: {ex.Message}";
        }
        repaired = st.Repaired;
        var snapIndex = st.Snapshot.Metadata.Index;
        var next = snapIndex + 1;
        foreach (var e in st.Entries)
        {
            if (e.Index != next) return $"entry {e.Index} where {next} was expected";
            if (!e.Data.AsSpan().SequenceEqual(expected(e.Index).Data)) return $"entry {e.Index} holds other bytes";
            next++;
        }
        return next - 1 < acked ? $"acknowledged entries up to {acked}, recovered up to {next - 1} (snapshot {snapIndex})" : null;
    }

    // Saves entries 1..saves (a snapshot at 40 with purging), cuts the power dropping everything
    // unsynced, and checks the restart.
    private static string? SaveAndCut(string? ignoredDir, int saves)
    {
        var root = Root();
        var disk = new SimDisk(root);
        var ignored = ignoredDir is null ? null : Path.TrimEndingDirectorySeparator(Path.GetFullPath(Path.Combine(root, ignoredDir)));
        if (ignored is not null) disk.IgnoreDirectoryFsync = p => p == ignored;
        var s = NodeStorage.Create(root, new WalMetadata(1, 2), Options(disk));
        for (var i = 1UL; i <= (ulong)saves; i++)
        {
            s.Save(new HardState(1, 1, i), [Ent(i, size: 200)]);
            if (i == 40)
            {
                s.SaveSnap(Snap(40));
                s.Release(Snap(40));
                s.Purge(1, 1);
            }
        }
        var after = disk.PowerCut(CutMode.DropAll, new Random(0));
        return Check(after, (ulong)saves, i => Ent(i, size: 200), Options(after));
    }

    private static readonly int[] CutPoints = [3, 60, 150];

    /// <summary>
    /// Every directory fsync the storage does is needed: with all of them, every acknowledged
    /// entry survives a cut at any of the points; a disk that ignores the fsyncs of any one of
    /// the directories loses acknowledged data (or the member) at one of the points at least.
    /// </summary>
    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("member")]
    [InlineData("member/wal.tmp")]
    [InlineData("member/wal")]
    [InlineData("member/snap")]
    public void EveryDirectoryFsyncGuardsAcknowledgedData(string? ignoredDir)
    {
        var failures = CutPoints.Select(n => (n, SaveAndCut(ignoredDir, n))).Where(r => r.Item2 is not null).ToList();
        foreach (var (n, why) in failures) output.WriteLine($"cut after {n} saves: {why}");
        if (ignoredDir is null) Assert.Empty(failures);
        else Assert.NotEmpty(failures);
    }

    /// <summary>
    /// A power cut at a random disk operation while entries are saved in batches, keeping a random
    /// subset of the unsynced sectors in any order, then a restart, three times over on the same
    /// disk: every Save that returned is recovered, entries written but not acknowledged may be
    /// recovered only whole and in order, and the restart repairs the torn tail on its own. The
    /// same run with fsync turned off loses acknowledged entries.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TornCutsAtRandomOperationsKeepEveryAcknowledgedEntry(bool noFsync)
    {
        var random = TestSeed.NewRandom(output.WriteLine);
        var (runs, cuts, lostBeforeKept, repairs, failures) = (noFsync ? 40 : 150, 0, 0, 0, new List<string>());
        var payloads = new Dictionary<ulong, Entry>();
        Entry Make(ulong i, Random r) => payloads.TryGetValue(i, out var e) ? e : payloads[i] = Ent(i, size: r.Next(20, 3000));
        for (var run = 0; run < runs; run++)
        {
            payloads.Clear();
            var disk = new SimDisk(Root());
            var segment = random.Next(2) == 0 ? 16 * 1024 : 64 * 1024;
            // Torn by 512-byte sector in some runs, by 4096-byte page in others.
            var unit = random.Next(2) == 0 ? SimDisk.Sector : 4096;
            NodeStorage.Create(disk.Root, new WalMetadata(1, 2), Options(disk, segment, noFsync)).Close();
            ulong acked = 0;
            for (var round = 0; round < 3; round++)
            {
                var (s, _) = NodeStorage.Restart(disk.Root, Options(disk, segment, noFsync));
                var countdown = random.Next(1, 400);
                disk.CutWhen(_ => --countdown == 0, CutMode.Tear, new Random(random.Next()), unit);
                try
                {
                    for (var n = 0; n < 1000; n++)
                    {
                        // A batch may rewrite a tail of entries that were never acknowledged.
                        var from = acked + 1;
                        var batch = Enumerable.Range(0, random.Next(1, 6)).Select(k => Make(from + (ulong)k, random)).ToArray();
                        s.Save(new HardState(1, 1, acked), batch);
                        acked = batch[^1].Index;
                    }
                    Assert.Fail("the power was never cut");
                }
                catch (IOException)
                {
                }
                Assert.True(disk.IsDead);
                var after = disk.Survivor!;
                cuts++;
                lostBeforeKept += disk.CutStats.FilesLosingASectorBeforeAKeptOne > 0 ? 1 : 0;
                var why = Check(after, acked, i => payloads[i], Options(after, segment, noFsync), out var repaired);
                repairs += repaired ? 1 : 0;
                if (why is not null)
                {
                    failures.Add($"run {run} round {round}: {why}");
                    break;
                }
                disk = after;
            }
        }
        output.WriteLine($"{cuts} cuts, {lostBeforeKept} kept a sector after a lost one, {repairs} restarts repaired a torn tail, {failures.Count} lost acknowledged entries");
        foreach (var f in failures.Take(5)) output.WriteLine(f);
        if (noFsync)
        {
            Assert.True(failures.Count > 0, $"fsync off lost nothing in {cuts} cuts ({TestSeed.Describe})");
        }
        else
        {
            Assert.True(failures.Count == 0, $"{string.Join("; ", failures.Take(3))} ({TestSeed.Describe})");
            Assert.True(lostBeforeKept > cuts / 10, $"only {lostBeforeKept} of {cuts} cuts kept a sector after a lost one ({TestSeed.Describe})");
            Assert.True(repairs > cuts / 10, $"only {repairs} of {cuts} restarts repaired a torn tail ({TestSeed.Describe})");
        }
    }
}
