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
             "raftAfterSave", "raftBeforeApplySnap", "raftAfterApplySnap", "raftAfterWALRelease", "raftBeforeFollowerSend",
             "applyBeforeOpenSnapshot", "applyAfterOpenSnapshot", "beforeApplyOneEntryNormal", "beforeApplyOneConfChange"],
            names);
    }

    [Fact]
    public void CoresGofailSitesAreTheShellsFailpoints()
    {
        // Core names the Ready loop's sites on its effects; the shell arms them by the same names,
        // every one; the apply side's sites are the shell's own (the apply loop hits them).
        Assert.Equal(
            Enum.GetValues<Failpoint>().Select(FailpointSet.SeedName).Where(n => n.StartsWith("raft", StringComparison.Ordinal)).Order(StringComparer.Ordinal),
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

    [Fact]
    public void ArmsAndDisarmsAtRunTimeAndKeepsTheHitCount()
    {
        var set = FailpointSet.Empty();
        set.Hit(Failpoint.RaftBeforeSave);
        Assert.Equal(0, set.Hits(Failpoint.RaftBeforeSave));
        set.Arm(Failpoint.RaftBeforeSave, new FailpointAction(FailpointActionKind.Sleep, 0));
        set.Hit(Failpoint.RaftBeforeSave);
        set.Hit(Failpoint.RaftBeforeSave);
        Assert.Equal(2, set.Hits(Failpoint.RaftBeforeSave));
        set.Disarm(Failpoint.RaftBeforeSave);
        set.Hit(Failpoint.RaftBeforeSave);
        Assert.Null(set.ActionAt(Failpoint.RaftBeforeSave));
        Assert.Equal(2, set.Hits(Failpoint.RaftBeforeSave));
    }

    [Theory]
    [InlineData("panic")]
    [InlineData("exit(3)")]
    [InlineData("sleep(250)")]
    public void ActionsReadBackAsTheyAreWritten(string text)
    {
        Assert.True(FailpointSet.TryAction(text, out var action));
        Assert.Equal(text, FailpointSet.Format(action));
    }

    [Theory]
    [InlineData("1", true)]
    [InlineData("true", true)]
    [InlineData(null, false)]
    [InlineData("", false)]
    [InlineData("0", false)]
    [InlineData("yes please", false)]
    public void OnlyAnExplicitOneOrTrueEnablesArmingAtRunTime(string? value, bool on) =>
        Assert.Equal(on, FailpointSet.IsOn(value));

    [Fact]
    public void TheEndpointArmsListsAndDisarmsAsGofailDoes()
    {
        var set = FailpointSet.Empty();
        Assert.Equal((204, ""), set.Handle("PUT", "raftBeforeSave", "sleep(0)\n"));
        Assert.Equal(new FailpointAction(FailpointActionKind.Sleep, 0), set.ActionAt(Failpoint.RaftBeforeSave));
        set.Hit(Failpoint.RaftBeforeSave);
        Assert.Equal((200, "raftBeforeSave=sleep(0) hits=1\n"), set.Handle("GET", "raftBeforeSave", ""));
        var (status, list) = set.Handle("GET", null, "");
        Assert.Equal(200, status);
        var lines = list.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Enum.GetValues<Failpoint>().Length, lines.Length);
        Assert.Contains("raftBeforeSave=sleep(0) hits=1", lines);
        Assert.Contains("raftAfterSave=off hits=0", lines);

        Assert.Equal((204, ""), set.Handle("DELETE", "raftBeforeSave", ""));
        Assert.Null(set.ActionAt(Failpoint.RaftBeforeSave));
        Assert.Equal((204, ""), set.Handle("PUT", "beforeApplyOneEntryNormal", "panic"));
        Assert.Equal((204, ""), set.Handle("PUT", "beforeApplyOneEntryNormal", "off"));
        Assert.Null(set.ActionAt(Failpoint.BeforeApplyOneEntryNormal));
    }

    [Theory]
    [InlineData("PUT", "raftBeforeSav", "panic", 404)]
    [InlineData("GET", "RaftBeforeSave", "", 404)]
    [InlineData("PUT", "raftBeforeSave", "crash", 400)]
    [InlineData("PUT", "raftBeforeSave", "sleep(-1)", 400)]
    [InlineData("PUT", "raftBeforeSave", "", 400)]
    [InlineData("POST", "raftBeforeSave", "panic", 405)]
    [InlineData("PUT", null, "panic", 405)]
    public void TheEndpointRefusesWhatItCannotDoAndArmsNothing(string method, string? name, string body, int expected)
    {
        var set = FailpointSet.Empty();
        Assert.Equal(expected, set.Handle(method, name, body).Status);
        Assert.All(Enum.GetValues<Failpoint>(), fp => Assert.Null(set.ActionAt(fp)));
    }

    [Fact]
    public async Task ASiteArmedWhileTheNodeRunsIsHitUntilDisarmed()
    {
        using var dir = new TempDir();
        var options = new RaftNodeOptions { Name = "n1", DataDir = dir.Path, HeartbeatIntervalMs = 10, ElectionTimeoutMs = 100, ListenPeerUrls = "http://127.0.0.1:0" };
        var set = FailpointSet.Empty();
        await using var node = await RaftNode.StartAsync(options, new ListStateMachine(), new RaftNodeDependencies { Failpoints = set });
        await node.ProposeAsync(Encoding.UTF8.GetBytes("x"));
        Assert.All(Enum.GetValues<Failpoint>(), fp => Assert.Equal(0, set.Hits(fp)));
        set.Arm(Failpoint.BeforeApplyOneEntryNormal, new FailpointAction(FailpointActionKind.Sleep, 1));
        set.Arm(Failpoint.RaftAfterSave, new FailpointAction(FailpointActionKind.Sleep, 1));
        for (var i = 0; i < 3; i++)
            await node.ProposeAsync(Encoding.UTF8.GetBytes("y"));
        Assert.True(set.Hits(Failpoint.BeforeApplyOneEntryNormal) >= 3, $"apply side: {set.Hits(Failpoint.BeforeApplyOneEntryNormal)} hits");
        Assert.True(set.Hits(Failpoint.RaftAfterSave) >= 3, $"Ready loop: {set.Hits(Failpoint.RaftAfterSave)} hits");
        set.Disarm(Failpoint.BeforeApplyOneEntryNormal);
        var before = set.Hits(Failpoint.BeforeApplyOneEntryNormal);
        await node.ProposeAsync(Encoding.UTF8.GetBytes("z"));
        Assert.Equal(before, set.Hits(Failpoint.BeforeApplyOneEntryNormal));
    }
}
