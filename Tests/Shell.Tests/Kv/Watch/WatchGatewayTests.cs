using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Raft.Shell.Tests.Kv.Watch;

/// <summary>The gateway's <c>/v3/watch</c>: a streamed body of requests, newline-delimited JSON results.</summary>
public class WatchGatewayTests
{
    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    [Fact]
    public async Task GatewayWatchStreamsCreatedThenEventsAsJsonLines()
    {
        await using var server = await KvTestServer.StartAsync();
        var put1 = await server.Client.PostAsync("/v3/kv/put", new StringContent($"{{\"key\":\"{B64("g/a")}\",\"value\":\"{B64("1")}\"}}"));
        var rev1 = JsonDocument.Parse(await put1.Content.ReadAsStringAsync()).RootElement.GetProperty("header").GetProperty("revision").GetString();

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v3/watch")
        {
            Content = new StringContent($"{{\"create_request\":{{\"key\":\"{B64("g/")}\",\"range_end\":\"{B64("g0")}\",\"start_revision\":\"{rev1}\",\"prev_kv\":true}}}}"),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var lines = new StreamReader(await response.Content.ReadAsStreamAsync());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var created = JsonDocument.Parse((await lines.ReadLineAsync(timeout.Token))!).RootElement.GetProperty("result");
        Assert.True(created.GetProperty("created").GetBoolean());
        var first = JsonDocument.Parse((await lines.ReadLineAsync(timeout.Token))!).RootElement.GetProperty("result");
        var ev = first.GetProperty("events")[0];
        Assert.Equal(B64("g/a"), ev.GetProperty("kv").GetProperty("key").GetString());
        Assert.Equal(rev1, ev.GetProperty("kv").GetProperty("mod_revision").GetString());

        await server.Client.PostAsync("/v3/kv/deleterange", new StringContent($"{{\"key\":\"{B64("g/a")}\"}}"));
        var deleted = JsonDocument.Parse((await lines.ReadLineAsync(timeout.Token))!).RootElement.GetProperty("result").GetProperty("events")[0];
        Assert.Equal("DELETE", deleted.GetProperty("type").GetString());
        Assert.Equal(B64("1"), deleted.GetProperty("prev_kv").GetProperty("value").GetString());
    }
}
