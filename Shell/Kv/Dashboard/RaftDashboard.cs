using System.Buffers;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Raft.Interop;

namespace Raft.Kv.Dashboard;

/// <summary>
/// The live cluster page: <c>GET /</c> shows the members, the leader's view of its followers'
/// progress, request rates and latencies, WAL and snapshot files, recent leader changes and late
/// heartbeats, and a read-only key browser; it updates itself every second. Its data comes from
/// <c>/dashboard/api/self</c> (this member) and <c>/dashboard/api/cluster</c> (every member, fetched
/// by this one from their client URLs).
/// </summary>
public static class RaftDashboard
{
    /// <summary>This member's report.</summary>
    public const string SelfPath = "/dashboard/api/self";

    /// <summary>Every member's report, as collected by this member.</summary>
    public const string ClusterPath = "/dashboard/api/cluster";

    /// <summary>How long this member waits for another member's report before showing it as down.</summary>
    public static readonly TimeSpan PeerTimeout = TimeSpan.FromMilliseconds(800);

    /// <summary>
    /// Maps the page and its data. Needs what <see cref="KvServiceCollectionExtensions.AddKvService"/>
    /// and the node's registration provide (<see cref="IRaftNode"/>, <see cref="KvStateMachine"/>,
    /// <see cref="KvServiceOptions"/>). Sampling of request rates starts here, so map it before the
    /// host starts serving.
    /// </summary>
    public static IEndpointRouteBuilder MapRaftDashboard(this IEndpointRouteBuilder endpoints)
    {
        var services = endpoints.ServiceProvider;
        var clock = services.GetService<TimeProvider>() ?? TimeProvider.System;
        var sampler = new DashboardSampler(services.GetService<IMeterFactory>(), () => services.GetService<IRaftNode>(), clock);
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = PeerTimeout,
            UseProxy = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
        };
        var peers = new PeerReports(new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan }, PeerTimeout);
        services.GetService<IHostApplicationLifetime>()?.ApplicationStopped.Register(() =>
        {
            sampler.Dispose();
            peers.Dispose();
        });

        Action<Utf8JsonWriter> Self(HttpContext http)
        {
            var node = http.RequestServices.GetRequiredService<IRaftNode>();
            var store = http.RequestServices.GetRequiredService<KvStateMachine>();
            var version = http.RequestServices.GetRequiredService<IOptions<KvServiceOptions>>().Value.Version;
            return w => SelfReport.Write(w, node, store, version, sampler, clock);
        }

        endpoints.MapGet("/", http => DashboardAssets.ServeAsync(http, "index.html"));
        endpoints.MapGet("/dashboard/{file}", (HttpContext http, string file) => DashboardAssets.ServeAsync(http, file));
        endpoints.MapGet(SelfPath, http => WriteJsonAsync(http, Self(http)));
        endpoints.MapGet(ClusterPath, async http =>
        {
            var node = http.RequestServices.GetRequiredService<IRaftNode>();
            await WriteJsonAsync(http, await peers.CollectAsync(node, Self(http), http.RequestAborted));
        });
        return endpoints;
    }

    private static async Task WriteJsonAsync(HttpContext http, Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer)) write(w);
        http.Response.ContentType = "application/json";
        // The page falls back to another member's data when the member that served it goes down,
        // which is a cross-origin request; the data is the same status any client can read.
        http.Response.Headers.AccessControlAllowOrigin = "*";
        http.Response.Headers.CacheControl = "no-store";
        http.Response.ContentLength = buffer.WrittenCount;
        await http.Response.Body.WriteAsync(buffer.WrittenMemory, http.RequestAborted);
    }
}
