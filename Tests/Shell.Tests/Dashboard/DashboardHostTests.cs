using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Raft.Interop;
using Raft.Kv;
using Raft.Kv.Dashboard;
using Raft.Kv.Http;
using Raft.Shell.Tests.Kv;

namespace Raft.Shell.Tests.Dashboard;

/// <summary>
/// The page in a C# host of the key-value service: one line (<c>app.MapRaftDashboard()</c>) serves
/// the page and its assets, and the member's report counts the gateway's requests.
/// </summary>
public class DashboardHostTests
{
    private static async Task<(WebApplication App, HttpClient Client, SynchronousTestNode Node)> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddKvService();
        builder.Services.AddSingleton(sp => new SynchronousTestNode(sp.GetRequiredService<IStateMachine>()));
        builder.Services.AddSingleton<IRaftNode>(sp => sp.GetRequiredService<SynchronousTestNode>());
        var app = builder.Build();
        app.MapEtcdJsonApi();
        app.MapRaftDashboard();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return (app, new HttpClient { BaseAddress = new Uri(address) }, app.Services.GetRequiredService<SynchronousTestNode>());
    }

    [Fact]
    public async Task ServesThePageAndItsAssetsFromTheMemberWithNothingFromOutside()
    {
        var (app, client, _) = await StartAsync();
        await using var _ = app;
        using var __ = client;

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
        var (app, client, node) = await StartAsync();
        await using var _ = app;
        using var __ = client;

        const int puts = 7, ranges = 3;
        for (var i = 0; i < puts; i++)
            Assert.True((await PostAsync(client, "/v3/kv/put", $"{{\"key\":\"{B64($"k{i}")}\",\"value\":\"{B64("v")}\"}}")).IsSuccessStatusCode);
        for (var i = 0; i < ranges; i++)
            Assert.True((await PostAsync(client, "/v3/kv/range", $"{{\"key\":\"{B64("k")}\",\"range_end\":\"{B64("l")}\"}}")).IsSuccessStatusCode);
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

    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return await client.PostAsync(path, content);
    }
}
