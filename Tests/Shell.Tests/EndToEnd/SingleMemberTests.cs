using System.Collections.Concurrent;
using Raft.Shell.Tests.Storage;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.EndToEnd;

/// <summary>
/// One member as a real <c>raft serve</c> process: the JSON API, restarts with its data, and
/// SIGKILL under a put load, after which every acknowledged put must still be there.
/// </summary>
[Collection(ProcessCollection.Name)]
public class SingleMemberTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    // A lone member campaigns within an election timeout; short ones keep the crash cycles quick.
    // Snapshots every 200 entries (old ones purged) put snapshot saves, WAL releases and purges
    // under the crash cycles' kills too.
    private static Member NewMember(TempDir dir)
    {
        var m = new Member("solo", dir.Sub("solo"), "e2e-solo");
        m.Flags.AddRange(["--heartbeat-interval", "20", "--election-timeout", "200", "--snapshot-count", "200",
            "--experimental-snapshot-catchup-entries", "10", "--max-snapshots", "2"]);
        return m;
    }

    private static async Task WaitHealthyAsync(Member m) =>
        await Wait.UntilAsync($"{m.Name} healthy", Generous, async () => (await m.Client.GetAsync("/health")) is { Ok: true }, () => m.Output);

    [Fact]
    public async Task PutRangeDeleteThroughTheJsonApiAndRestartsKeepEverything()
    {
        using var dir = new TempDir();
        using var m = NewMember(dir);
        await m.StartAsync();
        await WaitHealthyAsync(m);
        var c = m.Client;

        var put = await c.PutAsync("foo", "bar");
        Assert.True(put is { Ok: true }, $"put: {put}");
        var revision = GatewayClient.U64(put!.Json.GetProperty("header"), "revision");
        Assert.Equal(m.Id, GatewayClient.U64(put.Json.GetProperty("header"), "member_id"));
        Assert.Equal(m.ClusterId, GatewayClient.U64(put.Json.GetProperty("header"), "cluster_id"));

        var again = await c.PostAsync("/v3/kv/put", $"{{\"key\":\"{GatewayClient.B64("foo")}\",\"value\":\"{GatewayClient.B64("baz")}\",\"prev_kv\":true}}");
        Assert.True(again is { Ok: true }, $"put with prev_kv: {again}");
        Assert.Equal("bar", GatewayClient.Text(again!.Json.GetProperty("prev_kv").GetProperty("value").GetString()!));
        foreach (var k in new[] { "a", "b", "c" })
            Assert.True(await c.PutAsync(k, k + k) is { Ok: true });

        var range = await c.RangeAsync("a", "d");
        Assert.Equal(new Dictionary<string, string> { ["a"] = "aa", ["b"] = "bb", ["c"] = "cc" }, GatewayClient.Kvs(range!));
        Assert.Equal(3UL, GatewayClient.U64(range!.Json, "count"));

        var deleted = await c.DeleteAsync("b");
        Assert.True(deleted is { Ok: true }, $"delete: {deleted}");
        Assert.Equal(1UL, GatewayClient.U64(deleted!.Json, "deleted"));
        Assert.Null(await c.GetValueAsync("b"));

        var expected = new Dictionary<string, string> { ["a"] = "aa", ["c"] = "cc", ["foo"] = "baz" };
        var before = await c.StatusAsync();
        Assert.NotNull(before);
        Assert.Equal((long)revision + 5, before.Revision);

        // A graceful stop (SIGTERM) exits 0; the restart serves the same data at the same revision.
        m.Process!.Terminate();
        Assert.True(await m.Process.WaitForExitAsync(Generous), "no exit after SIGTERM");
        Assert.Equal(0, m.Process.ExitCode);
        Assert.Contains("received signal SIGTERM; shutting down", m.Process.Output, StringComparison.Ordinal);
        await m.StartAsync();
        await WaitHealthyAsync(m);
        Assert.Equal(expected, (await c.RangeAsync("a", "g")) is { Ok: true } r1 ? GatewayClient.Kvs(r1) : null);
        Assert.Equal(before.Revision, (await c.StatusAsync())!.Revision);

        // So does a restart after SIGKILL, and the revision carries on from there.
        m.Kill();
        await m.StartAsync();
        await WaitHealthyAsync(m);
        Assert.Equal(expected, (await c.RangeAsync("a", "g")) is { Ok: true } r2 ? GatewayClient.Kvs(r2) : null);
        var next = await c.PutAsync("d", "dd");
        Assert.True(next is { Ok: true });
        Assert.Equal(before.Revision + 1, (long)GatewayClient.U64(next!.Json.GetProperty("header"), "revision"));
    }

    [Fact]
    public async Task EveryAcknowledgedPutSurvivesSigkillUnderLoad()
    {
        using var dir = new TempDir();
        using var m = NewMember(dir);
        // Armed as in the broken planner's test below: with Core's planner a lone member saves before
        // it applies, so this failpoint is never reached and the crashes are the test's SIGKILLs.
        m.Environment["RAFT_FAILPOINTS"] = "raftBeforeSave=panic";
        var report = await CrashCyclesAsync(m, cycles: 20, stopAtFirstLoss: false);

        Assert.Empty(report.Lost);
        Assert.Null(report.RefusedStart);
        Assert.Equal(20, report.Cycles);
        Assert.Equal(0, report.SelfCrashes);
        Assert.DoesNotContain("failpoint raftBeforeSave", m.Output);
        // The kills came under load: puts were unanswered in every cycle, and many were acknowledged.
        Assert.Equal(20, report.CyclesKilledUnderLoad);
        Assert.True(report.Acknowledged >= 20 * 5, $"only {report.Acknowledged} puts acknowledged");
        // The member snapshotted along the way.
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(m.DataDir, "member", "snap"), "*.snap"));
    }

    [Fact]
    public async Task TheCrashLoopFindsLostWritesOfAPlannerWithoutTheOverlapRule()
    {
        using var dir = new TempDir();
        using var m = NewMember(dir);
        // A slow disk (every save waits 100 ms first, as the chaos harness's slow-disk nemesis does
        // with Core's planner, which loses nothing there): a planner that applies, and so answers,
        // before the save leaves a window of acknowledged but unsaved puts at almost every SIGKILL.
        // (With a panic at the first save instead, the answer had to win a race against the
        // process's own exit; under a heavily loaded machine that took over 200 cycles.)
        m.Environment["RAFT_FAILPOINTS"] = "raftBeforeSave=sleep(100)";
        m.Environment["RAFT_PLANNER"] = BrokenPlanners.Spec(nameof(BrokenPlanners.ApplyBeforeSave));
        var report = await CrashCyclesAsync(m, cycles: 60, stopAtFirstLoss: true);

        // After a restart a put the member had acknowledged was gone; or its store had committed
        // an entry the WAL never got, and it refused to start (the same apply before save, caught
        // by the start's check instead of by the reader).
        Assert.True(report.Lost.Count > 0 || report.RefusedStart is not null,
            $"{report.Cycles} cycles of a planner without the overlap rule lost nothing");
    }

    private sealed record CrashReport(int Cycles, int Acknowledged, int SelfCrashes, int CyclesKilledUnderLoad, IReadOnlyList<string> Lost, string? RefusedStart);

    /// <summary>
    /// Starts the member, checks that every put acknowledged so far is there, puts from 8 clients
    /// for a random 100 to 600 ms and SIGKILLs the member under that load (unless it crashed by
    /// itself first); <paramref name="cycles"/> times, and a last start to check the last cycle.
    /// </summary>
    private async Task<CrashReport> CrashCyclesAsync(Member m, int cycles, bool stopAtFirstLoss)
    {
        var ledger = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        var random = TestSeed.NewRandom(output.WriteLine);
        int acknowledged = 0, selfCrashes = 0, underLoad = 0, cycle = 0;
        List<string> lost = [];
        string? refused = null;
        for (; ; cycle++)
        {
            m.Launch();
            if (!await m.WaitStartedAsync(TimeSpan.FromSeconds(60)))
            {
                // A store ahead of its WAL: what apply before save leaves when the store's batch
                // commits between them. Reported, not retried; any other failed start fails the test.
                refused = m.Output.Split('\n').FirstOrDefault(l => l.Contains("past the last index", StringComparison.Ordinal));
                Assert.True(refused is not null, $"{m.Name} did not start:\n{m.Output}");
                output.WriteLine($"start {cycle + 1} refused: {refused}");
                break;
            }
            await WaitHealthyAsync(m);
            var present = await Wait.ForAsync("a range of every key", Generous, () => m.Client.PrefixAsync("k"), () => m.Output);
            lost = PutLoad.Lost(ledger, present);
            if (lost.Count > 0)
                output.WriteLine($"start {cycle + 1}: {lost.Count} acknowledged puts lost, e.g. {string.Join(", ", lost.Take(5))}");
            if (cycle == cycles || (stopAtFirstLoss && lost.Count > 0))
                break;

            using var stop = new CancellationTokenSource();
            var load = new PutLoad(ledger);
            var running = load.RunAsync(m.Client, $"k{cycle:D2}-", clients: 8, stop.Token);
            await Task.WhenAny(Task.Delay(random.Next(100, 600)), m.Process!.Exited);
            var crashedItself = m.Process.HasExited;
            var inFlight = load.Sent - load.Acknowledged - load.Unanswered;
            m.Kill();
            stop.Cancel();
            await running;
            acknowledged += load.Acknowledged;
            if (crashedItself) selfCrashes++;
            if (inFlight > 0) underLoad++;
            output.WriteLine($"cycle {cycle + 1}: {load.Acknowledged} acknowledged, {load.Unanswered} unanswered{(crashedItself ? ", crashed by itself" : "")}");
        }
        m.Kill();
        return new CrashReport(cycle, acknowledged, selfCrashes, underLoad, lost, refused);
    }
}
