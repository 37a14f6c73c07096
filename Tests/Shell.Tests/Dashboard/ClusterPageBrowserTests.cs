using System.Diagnostics;
using System.Globalization;
using Microsoft.Playwright;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Dashboard;

/// <summary>
/// The cluster page in a real browser (headless chromium) on three <c>raft serve</c> processes: it
/// lists the members and the leader, its write-rate chart rises after puts, its key browser lists
/// keys by prefix, and after the leader is SIGKILLed it shows the new leader and the old one as
/// down, both on a page served by a follower and on one served by the killed leader itself (which
/// then reads another member's data). <c>RAFT_DASHBOARD_SCREENSHOTS</c> names a directory to write
/// two pictures to: the follower's page before the kill, the leader's narrow page after it (the
/// README's pictures are made so).
/// </summary>
[Collection(ProcessCollection.Name)]
public class ClusterPageBrowserTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    private static string Hex(ulong id) => id.ToString("x", CultureInfo.InvariantCulture);

    [Fact]
    public async Task ShowsMembersLeaderRatesAndKeysAndFollowsALeaderKilled()
    {
        var total = Stopwatch.StartNew();
        // The browser first: without it the test fails at once, saying how to install it.
        var (playwright, browser) = await Chromium.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        using var cluster = new ProcessCluster(3);
        await cluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync(5 * ProcessCluster.ElectionTimeout);
        var follower = cluster.Members.First(m => m != leader);
        output.WriteLine($"cluster up in {total.ElapsedMilliseconds} ms; leader {leader}, page served by {follower} and by {leader}");

        var wide = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        // The leader's page on a phone-sized screen: the narrow layout, and the page that must find
        // another member once the one that served it is gone.
        var narrow = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 400, Height = 800 } });
        var errors = new List<string>();
        foreach (var page in new[] { wide, narrow })
            page.PageError += (_, e) => { lock (errors) errors.Add(e); };
        await wide.GotoAsync(follower.ClientUrl + "/");
        await narrow.GotoAsync(leader.ClientUrl + "/");

        foreach (var page in new[] { wide, narrow })
        {
            await WaitAsync(page, "three members answering and the leader marked",
                "leader => document.querySelectorAll('#members tbody tr[data-answered=\"true\"]').length === 3"
                + " && document.body.dataset.leader === leader"
                + " && document.querySelector('#members tbody tr.leader')?.dataset.id === leader", Hex(leader.Id), cluster);
            var names = await page.Locator("#members tbody tr").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.name)");
            Assert.Equal(cluster.Members.Select(m => m.Name).Order(), names.Order());
            Assert.Equal(leader.Name, await page.Locator("#leader-name").InnerTextAsync());
            // The leader's tracker: a row per member, in replicate once the cluster is idle.
            await WaitAsync(page, "the leader's progress of three members",
                "() => document.querySelectorAll('#progress tbody tr').length === 3", null, cluster);
        }
        Assert.Equal("0", await wide.Locator("#chart-writes").GetAttributeAsync("data-max"));

        const int puts = 150;
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < puts; i++)
            await ProcessCluster.PutEventuallyAsync(cluster.Members[i % 3], $"dash/{i:D3}", $"value {i}", Generous);
        output.WriteLine($"{puts} puts in {sw.ElapsedMilliseconds} ms");
        await WaitAsync(wide, "the write-rate chart to rise",
            "() => Number(document.getElementById('chart-writes').dataset.max) > 0", null, cluster);
        var peak = double.Parse((await wide.Locator("#chart-writes").GetAttributeAsync("data-max"))!, CultureInfo.InvariantCulture);
        output.WriteLine($"write-rate chart peak: {peak:0.#} writes/s");
        Assert.True(await wide.Locator("#chart-writes polyline").CountAsync() > 0, "the write chart has no line");

        // The key browser reads through /v3/kv/range: a page of 25 of the 150 keys under the prefix.
        await wide.Locator("#prefix").FillAsync("dash/");
        await wide.Locator("#key-form button[type=submit]").ClickAsync();
        await WaitAsync(wide, "the key browser to list a page of keys",
            "() => document.querySelectorAll('#keys tbody tr').length === 25 && document.getElementById('key-status').textContent.includes('150 in all')", null, cluster);
        Assert.Equal("dash/000", await wide.Locator("#keys tbody tr td.key").First.InnerTextAsync());
        Assert.False(await wide.Locator("#key-next").IsDisabledAsync());

        await ScreenshotAsync(wide, "cluster-page.png");

        leader.Kill();
        var killed = Stopwatch.StartNew();
        var survivors = cluster.Members.Where(m => m != leader).Select(m => Hex(m.Id)).ToArray();
        foreach (var page in new[] { wide, narrow })
        {
            await WaitAsync(page, "a new leader shown and the old one down",
                "([old, a, b]) => (document.body.dataset.leader === a || document.body.dataset.leader === b)"
                + " && document.querySelector(`#members tbody tr[data-id=\"${old}\"]`)?.dataset.answered === 'false'",
                new[] { Hex(leader.Id), survivors[0], survivors[1] }, cluster);
            output.WriteLine($"{(page == wide ? "follower's" : "killed leader's")} page shows the new leader {killed.ElapsedMilliseconds} ms after the kill");
        }
        // "Within a few seconds" (issue 14), on 2 shared cores: an election timeout of 1 s, a poll each second.
        Assert.True(killed.Elapsed < TimeSpan.FromSeconds(10), $"the pages took {killed.ElapsedMilliseconds} ms to show the new leader");
        Assert.Contains("does not answer", await narrow.Locator("#banner").InnerTextAsync());
        Assert.Contains(leader.Name + " is down", await wide.Locator("#banner").InnerTextAsync());
        await ScreenshotAsync(narrow, "cluster-page-leader-down-narrow.png");
        lock (errors) Assert.True(errors.Count == 0, "script errors on the page:\n" + string.Join("\n", errors));
        output.WriteLine($"whole test {total.ElapsedMilliseconds} ms");
    }

    private async Task ScreenshotAsync(IPage page, string name)
    {
        if (Environment.GetEnvironmentVariable("RAFT_DASHBOARD_SCREENSHOTS") is not { Length: > 0 } dir)
            return;
        var path = Path.GetFullPath(Path.Combine(dir, name));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        output.WriteLine($"screenshot: {path}");
    }

    private static async Task WaitAsync(IPage page, string what, string expression, object? arg, ProcessCluster cluster)
    {
        try
        {
            await page.WaitForFunctionAsync(expression, arg, new PageWaitForFunctionOptions { Timeout = (float)Generous.TotalMilliseconds, PollingInterval = 100 });
        }
        catch (TimeoutException)
        {
            var banner = await page.Locator("#banner").InnerTextAsync();
            var members = await page.Locator("#members").InnerTextAsync();
            Assert.Fail($"timed out waiting for {what} on {page.Url}\nbanner: {banner}\nmembers:\n{members}\n{cluster.Diagnostics()}");
        }
    }
}
