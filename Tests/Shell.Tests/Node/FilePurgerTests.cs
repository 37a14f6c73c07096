using Raft.Shell.Node;
using Raft.Shell.Storage;
using Raft.Interop.Wire;

namespace Raft.Shell.Tests.Node;

/// <summary>The purge after a snapshot removes the files Core picks, and no others.</summary>
public class FilePurgerTests
{
    private static void Touch(string dir, string name)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, name), [1]);
    }

    private static string[] Names(string dir) =>
        Directory.EnumerateFiles(dir).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void SnapFilesBeyondTheNumberToKeepGoOldestFirstAndZeroKeepsAll()
    {
        using var dir = new TempDir();
        using var storage = NodeStorage.Create(dir.Path, new WalMetadata(1, 1));
        var snapDir = NodeStorage.SnapDir(dir.Path);
        foreach (var i in new[] { 0x10, 0x20, 0x30 })
            Touch(snapDir, $"{1:x16}-{i:x16}.snap");
        Touch(snapDir, $"{0x30:x16}.snap.db");

        FilePurger.Purge(storage, maxWals: 0, maxSnaps: 0, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.Equal(4, Names(snapDir).Length);

        FilePurger.Purge(storage, maxWals: 0, maxSnaps: 1, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.Equal([$"{1:x16}-{0x30:x16}.snap", $"{0x30:x16}.snap.db"], Names(snapDir));
    }

    [Fact]
    public void AWalSegmentTheWalHoldsLockedStopsThePurge()
    {
        using var dir = new TempDir();
        using var storage = NodeStorage.Create(dir.Path, new WalMetadata(1, 1));
        var walDir = NodeStorage.WalDir(dir.Path);
        // A newer segment beside the open one: keeping one, Core picks the open (oldest) one, which
        // the WAL holds locked, so nothing goes.
        Touch(walDir, $"{1:x16}-{0x10:x16}.wal");
        // Segments only: the WAL prepares its next segment (a .tmp file) in the background meanwhile.
        string[] Segments() => Names(walDir).Where(n => n.EndsWith(".wal", StringComparison.Ordinal)).ToArray();
        var before = Segments();
        Assert.Equal(2, before.Length);
        FilePurger.Purge(storage, maxWals: 1, maxSnaps: 0, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.Equal(before, Segments());
    }
}
