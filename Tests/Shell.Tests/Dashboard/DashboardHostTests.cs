using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Raft.Kv.Dashboard;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Kv;

namespace Raft.Shell.Tests.Dashboard;

/// <summary>
/// The page in a C# host of the key-value service: one line (<c>app.MapRaftDashboard()</c>) serves
/// the page and its assets, and the member's report counts the gateway's requests.
/// </summary>
public class DashboardHostTests
{
    // The one line a host adds to serve the page.
    private static Task<KvTestServer> StartAsync() => KvTestServer.StartAsync(map: app => app.MapRaftDashboard());

    [Fact]
    public async Task ServesThePageAndItsAssetsFromTheMemberWithNothingFromOutside()
    {
        await using var server = await StartAsync();
        var client = server.Client;

        using var page = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var html = await page.Content.ReadAsStringAsync();
        var referenced = Regex.Matches(html, "(?:src|href)=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToArray();
        Assert.Contains("/dashboard/app.js", referenced);
        Assert.Contains("/dashboard/app.css", referenced);
        foreach (var path in referenced)
        {
            // Everything the page loads or links to is on the member itself: no CDN.
            Assert.StartsWith("/", path);
            using var asset = await client.GetAsync(path);
            Assert.True(asset.IsSuccessStatusCode, $"{path}: {(int)asset.StatusCode}");
        }
        foreach (var name in new[] { "app.js", "app.css", "favicon.svg" })
        {
            var text = await client.GetStringAsync("/dashboard/" + name);
            // The only absolute URL allowed is SVG's namespace name, which is never fetched.
            var urls = Regex.Matches(text, @"https?://[^\s'""<>)]+").Select(m => m.Value).Where(u => u != "http://www.w3.org/2000/svg");
            Assert.Empty(urls);
        }

        using var notFound = await client.GetAsync("/dashboard/missing.js");
        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);

        using var first = await client.GetAsync("/dashboard/app.js");
        var etag = first.Headers.ETag;
        Assert.NotNull(etag);
        using var again = new HttpRequestMessage(HttpMethod.Get, "/dashboard/app.js");
        again.Headers.IfNoneMatch.Add(etag);
        using var notModified = await client.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
    }

    [Fact]
    public async Task TheReportCountsTheGatewaysWritesAndReadsAndTheClusterReportShowsAMemberWithoutClientUrlAsDown()
    {
        await using var server = await StartAsync();
        var (client, node) = (server.Client, server.Node);

        const int puts = 7, ranges = 3;
        for (var i = 0; i < puts; i++)
            Assert.Equal(200, (await server.PostAsync("/v3/kv/put", $"{{\"key\":\"{GatewayClient.B64($"k{i}")}\",\"value\":\"{GatewayClient.B64("v")}\"}}")).Status);
        for (var i = 0; i < ranges; i++)
            Assert.Equal(200, (await server.PostAsync("/v3/kv/range", $"{{\"key\":\"{GatewayClient.B64("k")}\",\"range_end\":\"{GatewayClient.B64("l")}\"}}")).Status);
        // Not counted: neither a write nor a read of the store.
        await client.GetStringAsync("/status");

        // The duration is recorded as the response completes, just after the client has it.
        JsonElement self = default;
        for (var attempt = 0; attempt < 100; attempt++)
        {
            using var response = await client.GetAsync(RaftDashboard.SelfPath);
            Assert.Equal("*", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
            self = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            if (Sum(self, "writes") == puts && Sum(self, "reads") == ranges)
                break;
            await Task.Delay(20);
        }
        Assert.Equal(puts, Sum(self, "writes"));
        Assert.Equal(ranges, Sum(self, "reads"));
        Assert.Equal("leader", self.GetProperty("role").GetString());
        Assert.Equal(SynchronousTestNode.EtcdMemberId.ToString("x"), self.GetProperty("id").GetString());
        Assert.Equal(puts, self.GetProperty("store").GetProperty("keys").GetInt64());
        Assert.Equal(150, self.GetProperty("rates").GetProperty("buckets").GetArrayLength());
        var withWrites = self.GetProperty("rates").GetProperty("buckets").EnumerateArray().First(b => b.GetProperty("writes").GetInt32() > 0);
        Assert.True(withWrites.GetProperty("write_p99_ms").GetDouble() >= withWrites.GetProperty("write_p50_ms").GetDouble());

        var added = await node.AddMemberAsync(["http://127.0.0.1:1"], isLearner: true);
        var cluster = JsonDocument.Parse(await client.GetStringAsync(RaftDashboard.ClusterPath)).RootElement;
        var members = cluster.GetProperty("members").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!);
        Assert.Equal(2, members.Count);
        var me = members[SynchronousTestNode.EtcdMemberId.ToString("x")];
        Assert.True(me.GetProperty("answered").GetBoolean());
        Assert.Equal("leader", me.GetProperty("report").GetProperty("role").GetString());
        var unstarted = members[added.Id.ToString("x")];
        Assert.False(unstarted.GetProperty("answered").GetBoolean());
        Assert.Equal(JsonValueKind.Null, unstarted.GetProperty("report").ValueKind);
        Assert.Equal("no client URL", unstarted.GetProperty("error").GetString());
    }

    private static long Sum(JsonElement self, string field) =>
        self.GetProperty("rates").GetProperty("buckets").EnumerateArray().Sum(b => b.GetProperty(field).GetInt64());

}
