using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Http;

/// <summary>
/// etcd 3.5's <c>/livez</c> and <c>/readyz</c> (etcdhttp's check registries): each runs its checks
/// and answers <c>ok</c> (with every check's line under <c>?verbose</c>), or 503 with a line per
/// check, <c>[-]name failed: reason</c> for the failed ones; <c>/readyz/NAME</c> runs one check and
/// <c>?exclude=NAME</c> leaves one out. Checks run in a fixed order (etcd's come in map order).
/// </summary>
/// <remarks>
/// /livez checks a serializable read, /readyz also a CORRUPT alarm and a linearizable read. A member
/// that has not applied what it had applied before it stopped (<see cref="Raft.Shell.Node.RaftNode.IsReady"/>)
/// answers no read, so both reads fail at once with that reason instead of waiting: etcd serves
/// nothing at all on its client port until then, and a 503 says why.
/// </remarks>
internal static class HealthChecks
{
    private delegate Task<string?> Check(GatewayContext c);

    private static readonly (string Name, Check Run)[] Livez = [("serializable_read", c => ReadAsync(c, serializable: true))];

    private static readonly (string Name, Check Run)[] Readyz =
    [
        ("data_corruption", CorruptAlarm),
        ("serializable_read", c => ReadAsync(c, serializable: true)),
        ("linearizable_read", c => ReadAsync(c, serializable: false)),
    ];

    public static void Map(IEndpointRouteBuilder endpoints, SharedServices services)
    {
        Register(endpoints, services, "/livez", Livez);
        Register(endpoints, services, "/readyz", Readyz);
    }

    /// <summary>Why the member answers no read yet, or null once it is ready.</summary>
    public static string? NotReady(GatewayContext c) =>
        c.Node is Raft.Shell.Node.RaftNode { IsReady: false } node
            ? $"not ready: the member is applying the log it had before it stopped (applied index {node.AppliedIndex})"
            : null;

    private static void Register(IEndpointRouteBuilder endpoints, SharedServices services, string root, (string Name, Check Run)[] checks)
    {
        endpoints.Map(root, http =>
        {
            var excluded = http.Request.Query["exclude"].Where(s => !string.IsNullOrEmpty(s)).ToHashSet(StringComparer.Ordinal);
            return RunAsync(http, root, checks.Where(ch => !excluded.Contains(ch.Name)).ToArray());
        }).WithMetadata(services);
        foreach (var check in checks)
            endpoints.Map($"{root}/{check.Name}", http => RunAsync(http, $"{root}/{check.Name}", [check])).WithMetadata(services);
    }

    private static async Task RunAsync(HttpContext http, string path, (string Name, Check Run)[] checks)
    {
        if (!HttpMethods.IsGet(http.Request.Method))
        {
            http.Response.Headers.Allow = "GET";
            await PlainAsync(http, StatusCodes.Status405MethodNotAllowed, "Method Not Allowed\n");
            return;
        }
        var c = GatewayContext.Of(http);
        var lines = new StringBuilder();
        var failed = false;
        foreach (var (name, run) in checks)
        {
            if (await run(c) is { } reason)
            {
                failed = true;
                lines.Append("[-]").Append(name).Append(" failed: ").Append(reason).Append('\n');
            }
            else
            {
                lines.Append("[+]").Append(name).Append(" ok\n");
            }
        }
        if (failed)
        {
            c.Logger.LogWarning("health check {Path} failed: {Reason}", path, lines.ToString().TrimEnd());
            // Go's http.Error: the text and a newline.
            await PlainAsync(http, StatusCodes.Status503ServiceUnavailable, lines.Append('\n').ToString());
            return;
        }
        await PlainAsync(http, StatusCodes.Status200OK, (http.Request.Query.ContainsKey("verbose") ? lines.ToString() : "") + "ok\n");
    }

    private static Task PlainAsync(HttpContext http, int status, string body)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "text/plain; charset=utf-8";
        http.Response.Headers.XContentTypeOptions = "nosniff";
        return http.Response.WriteAsync(body, http.RequestAborted);
    }

    private static Task<string?> CorruptAlarm(GatewayContext c) =>
        Task.FromResult(c.Store.Alarms.Any(a => a.Alarm == AlarmType.Corrupt) ? "alarm activated: CORRUPT" : null);

    // etcd's readCheck: a keys-only range of one key, as root (auth does not apply), under the request timeout.
    private static async Task<string?> ReadAsync(GatewayContext c, bool serializable)
    {
        if (NotReady(c) is { } notReady) return notReady;
        EtcdError? error;
        if (serializable)
        {
            (_, error) = c.Node is Raft.Shell.Node.RaftNode { LocalReadIsDurable: false } node
                ? await c.ClusterAsync(async ct =>
                {
                    await node.WhenLocalReadIsDurableAsync(ct);
                    return true;
                })
                : (true, null);
        }
        else
        {
            (_, error) = await c.BarrierAsync();
        }
        if (error is not null) return error.Message;
        return c.Store.Range(new RangeRequest(new byte[] { 0 }, new byte[] { 0 }, Limit: 1, KeysOnly: true, Serializable: serializable)) is KvError e
            ? e.Message
            : null;
    }
}
