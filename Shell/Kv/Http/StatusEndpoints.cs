using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Raft.Kv.Metrics;

namespace Raft.Kv.Http;

/// <summary>The pages beside the gateway: <c>/health</c>, the JSON <c>/status</c> page and <c>/metrics</c>.</summary>
internal static class StatusEndpoints
{
    public static void Map(IEndpointRouteBuilder endpoints, SharedServices services)
    {
        endpoints.Map("/health", Health).WithMetadata(services);
        endpoints.MapGet("/status", StatusPage).WithMetadata(services);
        if (endpoints.ServiceProvider.GetService<PrometheusExporter>() is not null)
            endpoints.MapGet("/metrics", ServeMetrics);
    }

    /// <summary>
    /// etcd 3.5's /health: unhealthy without a leader or before the member is ready (it has not yet
    /// applied what it had applied before it stopped), else healthy when a linearizable read barrier
    /// completes within the request timeout; <c>?serializable=true</c> checks only this member.
    /// </summary>
    private static async Task Health(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        if (!HttpMethods.IsGet(http.Request.Method))
        {
            http.Response.Headers.Allow = "GET";
            http.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            http.Response.ContentType = "text/plain; charset=utf-8";
            await http.Response.WriteAsync("Method Not Allowed\n", http.RequestAborted);
            return;
        }
        var serializable = http.Request.Query["serializable"] == "true";
        string? reason = null;
        if (HealthChecks.NotReady(c) is { } notReady)
        {
            // etcd serves nothing before it is ready; say why at once (a member replaying its log
            // may not know the leader yet either, but the replay is what it waits for).
            reason = "RANGE ERROR:" + notReady;
        }
        else if (!serializable && c.Node.Status.Leader == 0)
        {
            reason = "RAFT NO LEADER";
        }
        else if (!serializable)
        {
            var (_, error) = await c.BarrierAsync();
            if (error is not null) reason = "RANGE ERROR:" + error.Message;
        }
        c.Metrics?.Health(reason is null);
        void Body(Utf8JsonWriter w)
        {
            w.WriteStartObject();
            w.WriteString("health"u8, reason is null ? "true" : "false");
            w.WriteString("reason"u8, reason ?? "");
            w.WriteEndObject();
        }
        if (reason is null)
        {
            // Go writes the body without a content type and sniffs text/plain.
            await GatewayContext.WriteAsync(http, 200, Body, "text/plain; charset=utf-8");
            return;
        }
        c.Logger.LogWarning("/health error: {Reason}", reason);
        var buffer = new ArrayBufferWriter<byte>(64);
        using (var w = GatewayJsonWriter.Create(buffer)) Body(w);
        // Go's http.Error: text/plain, nosniff, and a trailing newline.
        http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        http.Response.ContentType = "text/plain; charset=utf-8";
        http.Response.Headers.XContentTypeOptions = "nosniff";
        await http.Response.Body.WriteAsync(buffer.WrittenMemory, http.RequestAborted);
        await http.Response.Body.WriteAsync("\n"u8.ToArray(), http.RequestAborted);
    }

    private static Task StatusPage(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        return c.WriteAsync(200, w => StatusPageWriter.Write(w, c.Node, c.Store.Store, c.Options.Version));
    }

    private static async Task ServeMetrics(HttpContext http)
    {
        var exporter = http.RequestServices.GetRequiredService<PrometheusExporter>();
        http.Response.ContentType = PrometheusExporter.ContentType;
        var text = await exporter.ScrapeAsync(http.RequestAborted);
        http.Response.ContentLength = text.Length;
        await http.Response.Body.WriteAsync(text, http.RequestAborted);
    }
}
