using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Raft.Shell.Node;

namespace Raft.Cli;

/// <summary>
/// For crash tests only: with <c>RAFT_FAILPOINTS_HTTP=1</c>, <c>raft serve</c> lets failpoints be
/// armed and disarmed while it runs, as gofail's HTTP endpoint does for etcd, at
/// <c>/debug/failpoints</c> on the client URLs: <c>PUT /debug/failpoints/raftBeforeSave</c> with
/// the body <c>panic</c> or <c>sleep(200)</c> arms one, <c>DELETE</c> disarms it, <c>GET</c> lists
/// every failpoint with its action and hit count. Unset, the path is not mapped at all (404) and the
/// node holds no failpoints.
/// </summary>
public static class FailpointEndpoint
{
    /// <summary>Whether this process serves the endpoint (<c>RAFT_FAILPOINTS_HTTP</c> is 1 or true).</summary>
    public static bool Enabled => FailpointSet.HttpEnabled;

    /// <summary>Maps the endpoint on <paramref name="app"/>; the caller decides whether it is enabled.</summary>
    public static void Map(IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Map(FailpointSet.HttpPath + "/{name?}", HandleAsync);
        app.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger("Raft.Failpoints")
            .LogWarning("failpoints can be armed at {Path} ({Variable} is set); for crash tests only", FailpointSet.HttpPath, FailpointSet.HttpVariable);
    }

    private static async Task HandleAsync(HttpContext ctx)
    {
        var node = ctx.RequestServices.GetRequiredService<RaftNode>();
        string body;
        using (var reader = new StreamReader(ctx.Request.Body))
            body = await reader.ReadToEndAsync(ctx.RequestAborted).ConfigureAwait(false);
        var (status, text) = node.Failpoints is { } set
            ? set.Handle(ctx.Request.Method, ctx.Request.RouteValues["name"] as string, body)
            : (503, "this member holds no failpoints\n");
        ctx.Response.StatusCode = status;
        if (text.Length > 0)
        {
            ctx.Response.ContentType = "text/plain; charset=utf-8";
            await ctx.Response.WriteAsync(text, ctx.RequestAborted).ConfigureAwait(false);
        }
    }
}
