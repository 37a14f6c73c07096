using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Raft.Interop;
using Raft.Kv.Codec;
using Raft.Kv.Metrics;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Http;

/// <summary>
/// etcd v3's JSON gateway on an <see cref="IRaftNode"/> and a <see cref="KvStateMachine"/>: the KV,
/// cluster and maintenance paths etcd's users script against, plus <c>/health</c>, <c>/metrics</c>
/// and a JSON status page.
/// </summary>
public static class EtcdJsonApi
{
    // gRPC's receive limit in etcd is --max-request-bytes plus this much (embed/serve.go grpcOverheadBytes).
    private const int GrpcOverheadBytes = 512 * 1024;

    /// <summary>
    /// Maps the API. Uses, from the request services: <see cref="IRaftNode"/>, <see cref="KvStateMachine"/>,
    /// <see cref="IOptions{KvServiceOptions}"/>, and when registered <see cref="KvMetrics"/> and
    /// <see cref="PrometheusExporter"/> (then <c>GET /metrics</c> is mapped too).
    /// </summary>
    public static IEndpointRouteBuilder MapEtcdJsonApi(this IEndpointRouteBuilder endpoints)
    {
        var gateway = new (string Path, RequestDelegate Handler)[]
        {
            ("/v3/kv/put", Put),
            ("/v3/kv/range", Range),
            ("/v3/kv/deleterange", DeleteRange),
            ("/v3/cluster/member/list", MemberList),
            ("/v3/cluster/member/add", MemberAdd),
            ("/v3/cluster/member/remove", MemberRemove),
            ("/v3/cluster/member/promote", MemberPromote),
            ("/v3/maintenance/status", MaintenanceStatus),
        };
        var services = new SharedServices(endpoints.ServiceProvider);
        foreach (var (path, handler) in gateway)
        {
            endpoints.MapPost(path, handler).WithMetadata(services);
            endpoints.MapMethods(path, ["GET", "PUT", "DELETE", "PATCH"], MethodNotAllowed);
        }
        endpoints.Map("/health", Health).WithMetadata(services);
        endpoints.MapGet("/status", StatusPage).WithMetadata(services);
        if (endpoints.ServiceProvider.GetService<PrometheusExporter>() is not null)
            endpoints.MapGet("/metrics", ServeMetrics);
        return endpoints;
    }

    // The gateway's answer to a method other than POST (Go's http.Error text).
    private static Task MethodNotAllowed(HttpContext http)
    {
        http.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
        http.Response.ContentType = "text/plain; charset=utf-8";
        http.Response.Headers.XContentTypeOptions = "nosniff";
        return http.Response.WriteAsync("Method Not Allowed\n", http.RequestAborted);
    }

    /// <summary>The singletons every handler needs, resolved once (on the first request) rather than per request.</summary>
    private sealed class SharedServices(IServiceProvider root)
    {
        // A reference, published whole: requests that race on the first resolution each see a complete set.
        private Resolved? _resolved;

        public Resolved Get() => Volatile.Read(ref _resolved) ?? Resolve();

        private Resolved Resolve()
        {
            var r = new Resolved(
                root.GetRequiredService<IRaftNode>(),
                root.GetRequiredService<KvStateMachine>(),
                root.GetRequiredService<IOptions<KvServiceOptions>>().Value,
                root.GetService<KvMetrics>(),
                root.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(EtcdJsonApi).FullName!));
            Volatile.Write(ref _resolved, r);
            return r;
        }
    }

    private sealed record Resolved(IRaftNode Node, KvStateMachine Store, KvServiceOptions Options, KvMetrics? Metrics, ILogger Logger);

    /// <summary>What every handler needs.</summary>
    private sealed record Context(HttpContext Http, IRaftNode Node, KvStateMachine Store, KvServiceOptions Options, KvMetrics? Metrics, ILogger Logger)
    {
        public static Context Of(HttpContext http)
        {
            var shared = http.GetEndpoint()?.Metadata.GetMetadata<SharedServices>() ?? new SharedServices(http.RequestServices);
            var r = shared.Get();
            return new Context(http, r.Node, r.Store, r.Options, r.Metrics, r.Logger);
        }

        public ResponseHeader Header(long revision = 0) => new(Node.ClusterId, Node.MemberId, revision, Node.Status.Term);
    }

    private delegate EtcdError? BodyParser<T>(ReadOnlySequence<byte> body, out T request);

    /// <summary>
    /// Reads the whole body and parses it before releasing the buffer. A body too large to hold a
    /// request within gRPC's receive limit (base64 grows bytes by 4/3) is refused unread.
    /// </summary>
    private static async Task<(T? Request, EtcdError? Error)> ReadAsync<T>(Context c, BodyParser<T> parse)
    {
        var receiveLimit = (long)c.Options.MaxRequestBytes + GrpcOverheadBytes;
        var bodyLimit = receiveLimit * 4 / 3 + 64 * 1024;
        var reader = c.Http.Request.BodyReader;
        while (true)
        {
            ReadResult read;
            try
            {
                read = await reader.ReadAsync(c.Http.RequestAborted);
            }
            catch (BadHttpRequestException ex)
            {
                return (default, EtcdError.BadRequest(ex.Message));
            }
            var buffer = read.Buffer;
            if (buffer.Length > bodyLimit)
            {
                reader.AdvanceTo(buffer.End);
                return (default, EtcdError.MessageLargerThanMax(buffer.Length * 3 / 4, receiveLimit));
            }
            if (read.IsCompleted)
            {
                var error = parse(buffer, out var request);
                reader.AdvanceTo(buffer.End);
                return (request, error);
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static async Task WriteAsync(HttpContext http, int status, Action<Utf8JsonWriter> write, string contentType = "application/json")
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = GatewayJsonWriter.Create(buffer)) write(w);
        http.Response.StatusCode = status;
        http.Response.ContentType = contentType;
        http.Response.ContentLength = buffer.WrittenCount;
        await http.Response.Body.WriteAsync(buffer.WrittenMemory, http.RequestAborted);
    }

    private static Task WriteErrorAsync(Context c, EtcdError error)
    {
        if (error.Code is GrpcCode.Unavailable or GrpcCode.Unknown)
            c.Logger.LogWarning("{Path} failed: {Message}", c.Http.Request.Path, error.Message);
        return WriteAsync(c.Http, error.HttpStatus, w => GatewayJsonWriter.Error(w, error));
    }

    /// <summary>
    /// Runs a cluster operation under the request timeout and turns its failures into etcd's errors: a
    /// node error by its code, and the timeout as "no leader" when none is known, else "request timed out".
    /// </summary>
    private static async Task<(T? Value, EtcdError? Error)> ClusterAsync<T>(Context c, Func<CancellationToken, Task<T>> operation)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(c.Http.RequestAborted);
        timeout.CancelAfter(c.Options.RequestTimeout);
        try
        {
            return (await operation(timeout.Token), null);
        }
        catch (RaftException ex)
        {
            return (default, EtcdError.From(ex));
        }
        catch (OperationCanceledException) when (!c.Http.RequestAborted.IsCancellationRequested)
        {
            return (default, c.Node.Status.Leader == 0 ? EtcdError.NoLeader : EtcdError.Timeout);
        }
    }

    private static Task<(bool, EtcdError?)> BarrierAsync(Context c) =>
        ClusterAsync(c, async ct =>
        {
            await c.Node.ReadIndexAsync(ct);
            return true;
        });

    private static async Task Put(HttpContext http)
    {
        var c = Context.Of(http);
        var (request, error) = await ReadAsync<PutRequest>(c, GatewayJsonReader.ReadPut);
        error ??= request!.Check() is { } invalid ? EtcdError.From(invalid) : null;
        if (error is not null)
        {
            await WriteErrorAsync(c, error);
            return;
        }
        await ProposeAsync(c, KvCommandCodec.Encode(request!), (w, result) => result is PutResponse r && Write(w, () => GatewayJsonWriter.Put(w, c.Header(), r)));
    }

    private static async Task DeleteRange(HttpContext http)
    {
        var c = Context.Of(http);
        var (request, error) = await ReadAsync<DeleteRangeRequest>(c, GatewayJsonReader.ReadDeleteRange);
        error ??= request!.Check() is { } invalid ? EtcdError.From(invalid) : null;
        if (error is not null)
        {
            await WriteErrorAsync(c, error);
            return;
        }
        await ProposeAsync(c, KvCommandCodec.Encode(request!), (w, result) => result is DeleteRangeResponse r && Write(w, () => GatewayJsonWriter.DeleteRange(w, c.Header(), r)));
    }

    private static bool Write(Utf8JsonWriter w, Action write)
    {
        write();
        return true;
    }

    /// <summary>Proposes a command and answers with the applied result, once the node has applied it.</summary>
    private static async Task ProposeAsync(Context c, byte[] command, Func<Utf8JsonWriter, object?, bool> writeResult)
    {
        // etcd checks the marshalled request against --max-request-bytes; gRPC refuses far larger ones first.
        var requestSize = KvCommandCodec.RequestSize(command);
        if (requestSize > c.Options.MaxRequestBytes + GrpcOverheadBytes)
        {
            await WriteErrorAsync(c, EtcdError.MessageLargerThanMax(requestSize, c.Options.MaxRequestBytes + GrpcOverheadBytes));
            return;
        }
        if (command.Length > c.Options.MaxRequestBytes)
        {
            await WriteErrorAsync(c, EtcdError.RequestTooLarge);
            return;
        }
        var (result, error) = await ClusterAsync(c, ct => c.Node.ProposeAsync(command, ct));
        if (error is null && result is KvError kvError) error = EtcdError.From(kvError);
        if (error is not null)
        {
            await WriteErrorAsync(c, error);
            return;
        }
        var buffer = new ArrayBufferWriter<byte>(256);
        bool written;
        using (var w = GatewayJsonWriter.Create(buffer)) written = writeResult(w, result);
        if (!written)
            throw new InvalidOperationException($"the state machine answered a command with {result?.GetType().Name ?? "null"} (is the node running a KvStateMachine?)");
        c.Http.Response.StatusCode = 200;
        c.Http.Response.ContentType = "application/json";
        c.Http.Response.ContentLength = buffer.WrittenCount;
        await c.Http.Response.Body.WriteAsync(buffer.WrittenMemory, c.Http.RequestAborted);
    }

    private static async Task Range(HttpContext http)
    {
        var c = Context.Of(http);
        var (request, error) = await ReadAsync<RangeRequest>(c, GatewayJsonReader.ReadRange);
        error ??= request!.Check() is { } invalid ? EtcdError.From(invalid) : null;
        if (error is null && !request!.Serializable) (_, error) = await BarrierAsync(c);
        // A restarted member replays its committed log while it already serves: a local read before
        // the replay is done would answer an older revision than the member answered before.
        if (error is null && request!.Serializable && c.Node is Raft.Shell.Node.RaftNode { AppliedCommittedAtStart.IsCompleted: false } node)
            (_, error) = await ClusterAsync(c, async ct =>
            {
                await node.AppliedCommittedAtStart.WaitAsync(ct);
                return true;
            });
        if (error is not null)
        {
            await WriteErrorAsync(c, error);
            return;
        }
        switch (c.Store.Range(request!))
        {
            case RangeResponse r:
                await WriteAsync(http, 200, w => GatewayJsonWriter.Range(w, c.Header(), r));
                break;
            case KvError e:
                await WriteErrorAsync(c, EtcdError.From(e));
                break;
        }
    }

    private static IReadOnlyList<Member> SortedMembers(IRaftNode node) => node.Members.OrderBy(m => m.Id).ToList();

    private static async Task MemberList(HttpContext http)
    {
        var c = Context.Of(http);
        var (request, error) = await ReadAsync<MemberListRequest>(c, GatewayJsonReader.ReadMemberList);
        if (error is null && request!.Linearizable) (_, error) = await BarrierAsync(c);
        if (error is not null)
        {
            await WriteErrorAsync(c, error);
            return;
        }
        await WriteAsync(http, 200, w => GatewayJsonWriter.Members(w, c.Header(), SortedMembers(c.Node)));
    }

    private static async Task MemberAdd(HttpContext http)
    {
        var c = Context.Of(http);
        var (request, error) = await ReadAsync<MemberAddRequest>(c, GatewayJsonReader.ReadMemberAdd);
        var urls = error is null ? PeerUrlCheck.Normalize(request!.PeerUrls) : null;
        if (error is null && urls is null) error = EtcdError.MemberBadUrls;
        Member? added = null;
        if (error is null) (added, error) = await ClusterAsync(c, ct => c.Node.AddMemberAsync(urls!, request!.IsLearner, ct));
        if (error is not null)
        {
            await WriteErrorAsync(c, error);
            return;
        }
        await WriteAsync(http, 200, w => GatewayJsonWriter.MemberAdd(w, c.Header(), added!, SortedMembers(c.Node)));
    }

    private static Task MemberRemove(HttpContext http) =>
        MemberChange(http, (node, id, ct) => node.RemoveMemberAsync(id, ct));

    private static Task MemberPromote(HttpContext http) =>
        MemberChange(http, (node, id, ct) => node.PromoteMemberAsync(id, ct));

    private static async Task MemberChange(HttpContext http, Func<IRaftNode, ulong, CancellationToken, Task> change)
    {
        var c = Context.Of(http);
        var (request, error) = await ReadAsync<MemberIdRequest>(c, GatewayJsonReader.ReadMemberId);
        if (error is null)
        {
            (_, error) = await ClusterAsync(c, async ct =>
            {
                await change(c.Node, request!.Id, ct);
                return true;
            });
        }
        if (error is not null)
        {
            await WriteErrorAsync(c, error);
            return;
        }
        await WriteAsync(http, 200, w => GatewayJsonWriter.Members(w, c.Header(), SortedMembers(c.Node)));
    }

    private static async Task MaintenanceStatus(HttpContext http)
    {
        var c = Context.Of(http);
        var (_, error) = await ReadAsync(c, (ReadOnlySequence<byte> body, out bool none) =>
        {
            none = true;
            return GatewayJsonReader.ReadEmpty(body);
        });
        if (error is not null)
        {
            await WriteErrorAsync(c, error);
            return;
        }
        var status = c.Node.Status;
        var store = c.Store.Current;
        var s = new GatewayJsonWriter.Status(
            c.Options.Version, store.DataSize, status.Leader, status.CommitIndex, status.Term, status.AppliedIndex,
            status.Leader == 0 ? [EtcdError.NoLeader.Message] : [], store.DataSize, status.IsLearner);
        await WriteAsync(http, 200, w => GatewayJsonWriter.MaintenanceStatus(w, new ResponseHeader(c.Node.ClusterId, c.Node.MemberId, store.Revision, status.Term), s));
    }

    /// <summary>
    /// etcd 3.5's /health: unhealthy without a leader, else healthy when a linearizable read barrier
    /// completes within the request timeout; <c>?serializable=true</c> checks only this member.
    /// </summary>
    private static async Task Health(HttpContext http)
    {
        var c = Context.Of(http);
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
        if (!serializable && c.Node.Status.Leader == 0)
        {
            reason = "RAFT NO LEADER";
        }
        else if (!serializable)
        {
            var (_, error) = await BarrierAsync(c);
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
            await WriteAsync(http, 200, Body, "text/plain; charset=utf-8");
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
        var c = Context.Of(http);
        return WriteAsync(http, 200, w => StatusPageWriter.Write(w, c.Node, c.Store.Current, c.Options.Version));
    }

    private static async Task ServeMetrics(HttpContext http)
    {
        var exporter = http.RequestServices.GetRequiredService<PrometheusExporter>();
        http.Response.ContentType = PrometheusExporter.ContentType;
        var text = exporter.Scrape();
        http.Response.ContentLength = text.Length;
        await http.Response.Body.WriteAsync(text, http.RequestAborted);
    }
}
