using Raft.Shell.Tests.Storage;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.EndToEnd;

/// <summary>
/// etcd 3.5's <c>/livez</c> and <c>/readyz</c> on the client port, and <c>/health</c>: a member that
/// has not yet applied what it had applied before it stopped answers them 503 with the reason, and
/// answers no read; once ready, 200.
/// </summary>
[Collection(ProcessCollection.Name)]
public class ReadinessTests(ITestOutputHelper output)
{
    private const int Puts = 150;

    [Fact]
    public async Task AMemberReplayingALongLogAnswersReadyz503ThenOkAndNoReadBefore()
    {
        using var dir = new TempDir();
        using var m = new Member("ready", dir.Sub("ready"), "e2e-ready");
        // The store never commits on its own and no snapshot comes, so a restart replays every
        // entry from the WAL.
        m.Flags.AddRange(["--heartbeat-interval", "20", "--election-timeout", "200", "--snapshot-count", "100000",
            "--backend-batch-interval", "1h", "--backend-batch-limit", "1000000"]);
        await m.StartAsync();
        var c = m.Client;
        await Wait.UntilAsync("ready", TimeSpan.FromSeconds(30), async () => (await c.GetAsync("/readyz")) is { Ok: true }, () => m.Output);

        Assert.Equal("ok\n", (await c.GetAsync("/readyz"))!.Body);
        Assert.Equal("ok\n", (await c.GetAsync("/livez"))!.Body);
        Assert.Equal("[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\nok\n", (await c.GetAsync("/readyz?verbose"))!.Body);
        Assert.Equal("[+]serializable_read ok\n[+]linearizable_read ok\nok\n", (await c.GetAsync("/readyz?verbose&exclude=data_corruption"))!.Body);
        Assert.Equal("ok\n", (await c.GetAsync("/readyz/linearizable_read"))!.Body);
        Assert.Equal(405, (await c.PostAsync("/readyz", "{}"))!.Status);
        Assert.Equal(404, (await c.GetAsync("/readyz/no_such_check"))!.Status);

        long revision = 0;
        for (var i = 0; i < Puts; i++)
        {
            var put = await c.PutAsync("n", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.True(put is { Ok: true }, $"put {i}: {put}");
            revision = (long)GatewayClient.U64(put!.Json.GetProperty("header"), "revision");
        }

        m.Kill();
        // Every replayed entry now takes 40 ms to apply: seconds of replay before the member is ready.
        m.Environment["RAFT_FAILPOINTS"] = "beforeApplyOneEntryNormal=sleep(40)";
        m.Launch();
        string? firstReadyz = null, notReadyHealth = null;
        var reads = 0;
        await Wait.UntilAsync("ready again", TimeSpan.FromSeconds(120), async () =>
        {
            var readyz = await c.GetAsync("/readyz");
            if (readyz is null) return false;
            firstReadyz ??= readyz.ToString();
            if (!readyz.Ok)
            {
                Assert.Equal(503, readyz.Status);
                if (await c.GetAsync("/health") is { Status: 503 } health) notReadyHealth ??= health.Body;
            }
            // A read answered at any moment carries everything applied before the kill.
            foreach (var serializable in new[] { true, false })
            {
                var read = await c.RangeAsync("n", serializable: serializable);
                if (read is not { Ok: true }) continue;
                reads++;
                Assert.Equal((Puts - 1).ToString(System.Globalization.CultureInfo.InvariantCulture), GatewayClient.Kvs(read)["n"]);
                Assert.True((long)GatewayClient.U64(read.Json.GetProperty("header"), "revision") >= revision, $"read below revision {revision}: {read}");
            }
            return readyz.Ok;
        }, () => m.Output);
        output.WriteLine($"first /readyz after the restart: {firstReadyz}; /health then: {notReadyHealth}; reads answered: {reads}");

        Assert.StartsWith("503 ", firstReadyz);
        Assert.Contains("[+]data_corruption ok\n", firstReadyz);
        Assert.Contains("[-]serializable_read failed: not ready: the member is applying the log it had before it stopped", firstReadyz);
        Assert.Contains("[-]linearizable_read failed: not ready", firstReadyz);
        Assert.NotNull(notReadyHealth);
        Assert.Contains("\"health\":\"false\"", notReadyHealth);
        Assert.Contains("not ready", notReadyHealth);
        Assert.Equal("ok\n", (await c.GetAsync("/livez"))!.Body);
        Assert.Equal(revision, (await c.StatusAsync())!.Revision);
    }
}
