using Raft.Shell.Tests.Storage;

namespace Raft.Shell.Tests.EndToEnd;

/// <summary>
/// <c>raft serve</c> keeps its MVCC store in its data directory (<c>member/kv</c>): after a SIGKILL
/// the restarted member replays its log from its last snapshot over the store it already has, and
/// must apply no entry twice; the store's history survives with it.
/// </summary>
[Collection(ProcessCollection.Name)]
public class MemberStoreTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    private static Member NewMember(TempDir dir, params string[] flags)
    {
        var m = new Member("store", dir.Sub("store"), "e2e-store");
        m.Flags.AddRange(["--heartbeat-interval", "20", "--election-timeout", "200"]);
        m.Flags.AddRange(flags);
        return m;
    }

    private static async Task WaitHealthyAsync(Member m) =>
        await Wait.UntilAsync($"{m.Name} healthy", Generous, async () => (await m.Client.GetAsync("/health")) is { Ok: true }, () => m.Output);

    // Every pair with its counters, as the gateway prints them.
    private static async Task<string> AllAsync(Member m)
    {
        var reply = await m.Client.PostAsync("/v3/kv/range", $"{{\"key\":\"{GatewayClient.B64("\0")}\",\"range_end\":\"{GatewayClient.B64("\0")}\"}}");
        Assert.True(reply is { Ok: true }, $"range: {reply}");
        return reply!.Json.TryGetProperty("kvs", out var kvs) ? kvs.GetRawText() : "[]";
    }

    private static async Task<string?> ValueAtAsync(Member m, string key, long revision)
    {
        var reply = await m.Client.PostAsync("/v3/kv/range", $"{{\"key\":\"{GatewayClient.B64(key)}\",\"revision\":\"{revision}\"}}");
        Assert.True(reply is { Ok: true }, $"range at {revision}: {reply}");
        return GatewayClient.Kvs(reply!).GetValueOrDefault(key);
    }

    [Fact]
    public async Task ASigkilledMemberKeepsItsStoreAndAppliesNoEntryTwice()
    {
        using var dir = new TempDir();
        // Snapshots every 50 entries: the restart restores one and replays the entries after it.
        using var m = NewMember(dir, "--snapshot-count", "50", "--experimental-snapshot-catchup-entries", "10");
        await m.StartAsync();
        await WaitHealthyAsync(m);
        var c = m.Client;
        long firstRevision = 0;
        for (var i = 0; i < 130; i++)
        {
            var put = await c.PutAsync($"k{i % 40:D2}", $"v{i}");
            Assert.True(put is { Ok: true }, $"put {i}: {put}");
            if (i == 0) firstRevision = (long)GatewayClient.U64(put!.Json.GetProperty("header"), "revision");
        }
        Assert.True(await c.DeleteAsync("k05") is { Ok: true });
        var before = await AllAsync(m);
        var revision = (await c.StatusAsync())!.Revision;
        Assert.True(File.Exists(Path.Combine(m.DataDir, "member", "kv", "data.mdb")), "no store in member/kv");
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(m.DataDir, "member", "snap"), "*.snap"));

        m.Kill();
        await m.StartAsync();
        await WaitHealthyAsync(m);

        // The same pairs with the same counters at the same revision: no replayed entry applied again.
        Assert.Equal(before, await AllAsync(m));
        Assert.Equal(revision, (await c.StatusAsync())!.Revision);
        // History older than the snapshot is still there (a store rebuilt from the snapshot has none).
        Assert.Equal("v0", await ValueAtAsync(m, "k00", firstRevision));
        var next = await c.PutAsync("after", "x");
        Assert.Equal(revision + 1, (long)GatewayClient.U64(next!.Json.GetProperty("header"), "revision"));

        // Again, right after writes that the store may not have committed yet (it commits every 100 ms).
        for (var i = 0; i < 20; i++) Assert.True(await c.PutAsync($"late{i}", "y") is { Ok: true });
        before = await AllAsync(m);
        revision = (await c.StatusAsync())!.Revision;
        m.Kill();
        await m.StartAsync();
        await WaitHealthyAsync(m);
        Assert.Equal(before, await AllAsync(m));
        Assert.Equal(revision, (await c.StatusAsync())!.Revision);
    }

    [Fact]
    public async Task ALaggingFollowerInstallsTheLeadersStoreCheckpoint()
    {
        // Snapshots every 20 entries, 5 kept for catching up: a follower down for 100 puts needs the store.
        using var cluster = new ProcessCluster(3, "--heartbeat-interval", "20", "--election-timeout", "300",
            "--snapshot-count", "20", "--experimental-snapshot-catchup-entries", "5");
        await cluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync(Generous);
        var follower = cluster.Members.First(m => m != leader);
        for (var i = 0; i < 10; i++) Assert.True(await leader.Client.PutAsync($"early{i}", "e") is { Ok: true });
        follower.Kill();
        for (var i = 0; i < 100; i++) Assert.True(await leader.Client.PutAsync($"k{i % 30:D2}", $"v{i}") is { Ok: true });
        var expected = await AllAsync(leader);
        var revision = (await leader.Client.StatusAsync())!.Revision;

        await follower.StartAsync();
        await Wait.UntilAsync("the follower caught up", Generous,
            async () => (await follower.Client.StatusAsync())?.Revision == revision, () => follower.Output);
        Assert.Contains("sending merged snapshot", leader.Output);
        Assert.Contains("with a streamed checkpoint", leader.Output);
        Assert.Contains("applied snapshot", follower.Output);
        Assert.Equal(expected, await AllAsync(follower));
        // History the follower never applied itself came with the checkpoint.
        Assert.Equal("e", await ValueAtAsync(follower, "early0", revision - 100));
        // And it applies what follows.
        Assert.True(await leader.Client.PutAsync("after", "x") is { Ok: true });
        await Wait.UntilAsync("the follower applied the next put", Generous,
            async () => (await follower.Client.StatusAsync())?.Revision == revision + 1, () => follower.Output);
    }

    [Fact]
    public async Task QuotaBackendBytesRaisesNoSpace()
    {
        using var dir = new TempDir();
        // A quota below any database's size: the first put raises NOSPACE.
        using var m = NewMember(dir, "--quota-backend-bytes", "1");
        await m.StartAsync();
        await WaitHealthyAsync(m);
        var put = await m.Client.PutAsync("k", "v");
        Assert.True(put is { Ok: false }, $"put over the quota: {put}");
        Assert.Equal("etcdserver: mvcc: database space exceeded", put!.Json.GetProperty("message").GetString());
        var alarms = await m.Client.PostAsync("/v3/maintenance/alarm", "{}");
        Assert.Contains("NOSPACE", alarms!.Json.GetRawText());
    }

    [Fact]
    public async Task AnUnknownAutoCompactionModeIsRefused()
    {
        using var dir = new TempDir();
        using var p = RaftProcess.Start(["serve", "--data-dir", dir.Sub("x"), "--auto-compaction-mode", "hourly", "--auto-compaction-retention", "1"]);
        Assert.True(await p.WaitForExitAsync(Generous));
        Assert.Equal(2, p.ExitCode);
        Assert.Contains("--auto-compaction-mode", p.Output);
    }
}
