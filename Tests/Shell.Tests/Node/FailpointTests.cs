using System.Text;
using Raft.Shell.Node;

namespace Raft.Shell.Tests.Node;

public class FailpointTests
{
    [Fact]
    public void ParsesTheSeedsNamesAndActions()
    {
        var set = FailpointSet.TryParse("raftBeforeSave=panic; raftAfterSave=sleep(100);raftBeforeLeaderSend=exit(3);raftAfterSaveSnap=exit", out var error);
        Assert.Null(error);
        Assert.NotNull(set);
        Assert.Equal(new FailpointAction(FailpointActionKind.Panic, 0), set.ActionAt(Failpoint.RaftBeforeSave));
        Assert.Equal(new FailpointAction(FailpointActionKind.Sleep, 100), set.ActionAt(Failpoint.RaftAfterSave));
        Assert.Equal(new FailpointAction(FailpointActionKind.Exit, 3), set.ActionAt(Failpoint.RaftBeforeLeaderSend));
        Assert.Equal(new FailpointAction(FailpointActionKind.Exit, 1), set.ActionAt(Failpoint.RaftAfterSaveSnap));
        Assert.Null(set.ActionAt(Failpoint.RaftAfterWALRelease));
    }

    [Theory]
    [InlineData("raftBeforeSav=panic", "unknown failpoint")]
    [InlineData("raftBeforeSave", "want name=action")]
    [InlineData("raftBeforeSave=crash", "action must be")]
    [InlineData("raftBeforeSave=sleep(x)", "action must be")]
    public void RejectsMalformedSpecifications(string text, string expected)
    {
        Assert.Null(FailpointSet.TryParse(text, out var error));
        Assert.Contains(expected, error);
    }

    [Fact]
    public void EveryFailpointHasTheSeedsName()
    {
        var names = Enum.GetValues<Failpoint>().Select(FailpointSet.SeedName).ToArray();
        Assert.Equal(
            ["raftBeforeSaveWaitWalSync", "raftBeforeLeaderSend", "raftBeforeSaveSnap", "raftAfterSaveSnap", "raftBeforeSave",
             "raftAfterSave", "raftBeforeApplySnap", "raftAfterApplySnap", "raftAfterWALRelease", "raftBeforeFollowerSend"],
            names);
    }

    [Fact]
    public void CoresGofailSitesAreTheShellsFailpoints()
    {
        // Core names the sites on its effects; the shell arms them by the same names, every one.
        Assert.Equal(
            Enum.GetValues<Failpoint>().Select(FailpointSet.SeedName).Order(StringComparer.Ordinal),
            CoreAdapter.GofailSiteNames.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task ArmedSleepsFireAtTheirEffects()
    {
        using var dir = new TempDir();
        var options = new RaftNodeOptions
        {
            Name = "n1", DataDir = dir.Path, HeartbeatIntervalMs = 10, ElectionTimeoutMs = 100, SnapshotCount = 5, ListenPeerUrls = "http://127.0.0.1:0",
            Failpoints = "raftBeforeSaveWaitWalSync=sleep(1);raftAfterSave=sleep(1)",
        };
        await using var node = await RaftNode.StartAsync(options, new ListStateMachine());
        for (var i = 0; i < 3; i++)
            await node.ProposeAsync(Encoding.UTF8.GetBytes("x"));
        var fp = node.Failpoints!;
        // A one-member cluster's committed entries overlap its unstable ones: the save before apply.
        Assert.True(fp.Hits(Failpoint.RaftBeforeSaveWaitWalSync) >= 3);
        Assert.True(fp.Hits(Failpoint.RaftAfterSave) >= 3);
        // Not armed: never counted, whatever the node did.
        Assert.Equal(0, fp.Hits(Failpoint.RaftBeforeSave));
    }

    [Fact]
    public async Task UnarmedNodeHoldsNoFailpoints()
    {
        using var dir = new TempDir();
        var options = new RaftNodeOptions { Name = "n1", DataDir = dir.Path, HeartbeatIntervalMs = 10, ElectionTimeoutMs = 100, ListenPeerUrls = "http://127.0.0.1:0" };
        await using var node = await RaftNode.StartAsync(options, new ListStateMachine());
        await node.ProposeAsync(Encoding.UTF8.GetBytes("x"));
        Assert.Null(FailpointSet.FromEnvironment);
        Assert.Null(node.Failpoints);
    }
}
