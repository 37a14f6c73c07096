using System.Net.Http;
using Raft.Shell.Tests.Chaos;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;

namespace Raft.Shell.Tests.Cli;

/// <summary>
/// <c>raft serve</c>'s failpoint endpoint: absent unless RAFT_FAILPOINTS_HTTP is set; when set, a
/// failpoint armed on the running member is hit, counted, and a panic ends the process.
/// </summary>
[Collection(ProcessCollection.Name)]
public class FailpointEndpointTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    private static Member NewMember(TempDir dir, bool enabled)
    {
        var m = new Member("fp", dir.Sub("fp"), "e2e-fp");
        m.Flags.AddRange(["--heartbeat-interval", "20", "--election-timeout", "200"]);
        if (enabled)
            m.Environment["RAFT_FAILPOINTS_HTTP"] = "1";
        return m;
    }

    [Fact]
    public async Task WithoutTheVariableTheEndpointIsNotThereAndNothingCanBeArmed()
    {
        using var dir = new TempDir();
        using var m = NewMember(dir, enabled: false);
        await m.StartAsync();
        await ProcessCluster.PutEventuallyAsync(m, "a", "1", Generous);
        Assert.Null(await FailpointHttp.ListAsync(m.ClientUrl));
        Assert.Equal(404, await FailpointHttp.ArmAsync(m.ClientUrl, "raftBeforeSave", "panic"));
        Assert.Equal(404, await FailpointHttp.ArmAsync(m.ClientUrl, "beforeApplyOneEntryNormal", "panic"));
        // Still serving: nothing was armed.
        Assert.True(await m.Client.PutAsync("b", "2") is { Ok: true });
        Assert.True(m.IsRunning);
        Assert.DoesNotContain("failpoints can be armed", m.Output);
    }

    [Fact]
    public async Task WithTheVariableAFailpointIsArmedCountedDisarmedAndAPanicEndsTheMember()
    {
        using var dir = new TempDir();
        using var m = NewMember(dir, enabled: true);
        await m.StartAsync();
        await ProcessCluster.PutEventuallyAsync(m, "a", "1", Generous);
        var list = await FailpointHttp.ListAsync(m.ClientUrl);
        Assert.NotNull(list);
        Assert.Equal(14, list.Count);
        Assert.All(list.Values, v => Assert.Equal(("off", 0), v));

        Assert.Equal(204, await FailpointHttp.ArmAsync(m.ClientUrl, "beforeApplyOneEntryNormal", "sleep(1)"));
        Assert.Equal(400, await FailpointHttp.ArmAsync(m.ClientUrl, "raftAfterSave", "crash"));
        Assert.Equal(404, await FailpointHttp.ArmAsync(m.ClientUrl, "raftNowhere", "panic"));
        for (var i = 0; i < 3; i++)
            Assert.True(await m.Client.PutAsync("b", $"{i}") is { Ok: true });
        list = await FailpointHttp.ListAsync(m.ClientUrl);
        Assert.Equal("sleep(1)", list!["beforeApplyOneEntryNormal"].Action);
        Assert.True(list["beforeApplyOneEntryNormal"].Hits >= 3, $"hits: {list["beforeApplyOneEntryNormal"].Hits}");
        Assert.Equal(("off", 0), list["raftAfterSave"]);

        Assert.Equal(204, await FailpointHttp.DisarmAsync(m.ClientUrl, "beforeApplyOneEntryNormal"));
        var hits = (await FailpointHttp.ListAsync(m.ClientUrl))!["beforeApplyOneEntryNormal"];
        Assert.True(await m.Client.PutAsync("c", "3") is { Ok: true });
        Assert.Equal(hits with { Action = "off" }, (await FailpointHttp.ListAsync(m.ClientUrl))!["beforeApplyOneEntryNormal"]);

        Assert.Equal(204, await FailpointHttp.ArmAsync(m.ClientUrl, "raftAfterSave", "panic"));
        _ = await m.Client.PutAsync("d", "4");
        Assert.True(await m.Process!.WaitForExitAsync(Generous), "the member survived an armed panic");
        Assert.Contains("failpoint raftAfterSave: panic", m.Output);
        Assert.Contains("failpoints can be armed", m.Output);

        // Armed at run time only: the restarted member runs clean and kept every acknowledged put.
        await m.StartAsync();
        Assert.Equal("3", await Wait.ForAsync("a read of c after the restart", Generous,
            async () => await m.Client.RangeAsync("c") is { Ok: true } r ? GatewayClient.Kvs(r).GetValueOrDefault("c") ?? "(absent)" : null));
        Assert.True(await m.Client.PutAsync("e", "5") is { Ok: true });
        Assert.Equal(("off", 0), (await FailpointHttp.ListAsync(m.ClientUrl))!["raftAfterSave"]);
    }
}
