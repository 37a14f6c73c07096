using System.Buffers;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Raft.Kv.Hosting;
using Raft.Shell.Tests.Node;

namespace Raft.Shell.Tests.Grpc;

/// <summary>
/// The client port: one Kestrel port that speaks HTTP/1.1 and cleartext HTTP/2 (prior knowledge),
/// chosen by the connection's first bytes.
/// </summary>
public class ClientPortTests
{
    private static readonly byte[] Preface = Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

    [Fact]
    public void ThePrefaceDecidesAndAStrictPrefixOfItWaits()
    {
        PrefaceRouter.Verdict Of(byte[] bytes) => PrefaceRouter.Classify(new ReadOnlySequence<byte>(bytes));
        Assert.Equal(PrefaceRouter.Verdict.Undecided, Of([]));
        Assert.Equal(PrefaceRouter.Verdict.Undecided, Of(Preface[..1]));
        Assert.Equal(PrefaceRouter.Verdict.Undecided, Of(Preface[..23]));
        Assert.Equal(PrefaceRouter.Verdict.Http2, Of(Preface));
        Assert.Equal(PrefaceRouter.Verdict.Http2, Of([.. Preface, 0, 0, 0, 4]));
        Assert.Equal(PrefaceRouter.Verdict.Http1, Of(Encoding.ASCII.GetBytes("POST /v3/kv/range HTTP/1.1\r\n")));
        Assert.Equal(PrefaceRouter.Verdict.Http1, Of(Encoding.ASCII.GetBytes("PRI * HTTP/1.1\r\n")));
        Assert.Equal(PrefaceRouter.Verdict.Http1, Of(Encoding.ASCII.GetBytes("G")));
    }

    private static async Task<(WebApplication App, string Url)> StartAsync()
    {
        var port = NodeCluster.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseEtcdClientUrls([$"http://127.0.0.1:{port}"]);
        var app = builder.Build();
        app.MapGet("/protocol", (HttpContext http) => http.Request.Protocol);
        await app.StartAsync();
        return (app, $"http://127.0.0.1:{port}");
    }

    [Fact]
    public async Task OnePortAnswersHttp11AndPriorKnowledgeHttp2()
    {
        var (app, url) = await StartAsync();
        await using var _ = app;
        using var http = new HttpClient { BaseAddress = new Uri(url) };

        var h1 = await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/protocol") { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact });
        Assert.Equal(HttpVersion.Version11, h1.Version);
        Assert.Equal("HTTP/1.1", await h1.Content.ReadAsStringAsync());

        var h2 = await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/protocol") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact });
        Assert.Equal(HttpVersion.Version20, h2.Version);
        Assert.Equal("HTTP/2", await h2.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task APrefaceSplitAcrossWritesStillSelectsHttp2AndAShortRequestHttp11()
    {
        var (app, url) = await StartAsync();
        await using var _ = app;
        var port = new Uri(url).Port;

        // HTTP/2: half the preface, a pause, the rest and an empty SETTINGS frame; the server's first
        // frame is its SETTINGS (type 4).
        using (var s = new TcpClient())
        {
            await s.ConnectAsync(IPAddress.Loopback, port);
            var stream = s.GetStream();
            await stream.WriteAsync(Preface.AsMemory(0, 10));
            await Task.Delay(200);
            await stream.WriteAsync(Preface.AsMemory(10));
            await stream.WriteAsync(new byte[] { 0, 0, 0, 4, 0, 0, 0, 0, 0 });
            var head = new byte[9];
            await stream.ReadExactlyAsync(head).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(4, head[3]);
        }

        // HTTP/1.1 written one byte at a time: the first byte already differs from the preface.
        using (var s = new TcpClient())
        {
            await s.ConnectAsync(IPAddress.Loopback, port);
            var stream = s.GetStream();
            foreach (var b in Encoding.ASCII.GetBytes("GET /protocol HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
                await stream.WriteAsync(new[] { b });
            using var reader = new StreamReader(stream);
            var answer = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.StartsWith("HTTP/1.1 200", answer);
            Assert.Contains("\r\nHTTP/1.1\r\n", answer);
        }
    }
}
