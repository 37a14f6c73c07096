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

namespace Raft.Kv.Http;

/// <summary>The singletons every handler needs, resolved once (on the first request) rather than per request.</summary>
internal sealed class SharedServices(IServiceProvider root)
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
            // One log category for the whole gateway, whichever service answers.
            root.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(EtcdJsonApi).FullName!));
        Volatile.Write(ref _resolved, r);
        return r;
    }

    internal sealed record Resolved(IRaftNode Node, KvStateMachine Store, KvServiceOptions Options, KvMetrics? Metrics, ILogger Logger);
}

/// <summary>
/// One gateway request and what every handler needs for it, with the gateway's shared steps: reading
/// the JSON body under gRPC's size limit, writing answers and etcd's errors, and running cluster
/// operations under the request timeout.
/// </summary>
internal sealed record GatewayContext(HttpContext Http, IRaftNode Node, KvStateMachine Store, KvServiceOptions Options, KvMetrics? Metrics, ILogger Logger)
{
    // gRPC's receive limit in etcd is --max-request-bytes plus this much (embed/serve.go grpcOverheadBytes).
    public const int GrpcOverheadBytes = 512 * 1024;

    public static GatewayContext Of(HttpContext http)
    {
        var shared = http.GetEndpoint()?.Metadata.GetMetadata<SharedServices>() ?? new SharedServices(http.RequestServices);
        var r = shared.Get();
        return new GatewayContext(http, r.Node, r.Store, r.Options, r.Metrics, r.Logger);
    }

    /// <summary>Maps a gateway path: POST to <paramref name="handler"/>, other methods to Go's 405 answer.</summary>
    public static void MapGateway(IEndpointRouteBuilder endpoints, SharedServices services, string path, RequestDelegate handler)
    {
        endpoints.MapPost(path, handler).WithMetadata(services);
        endpoints.MapMethods(path, ["GET", "PUT", "DELETE", "PATCH"], MethodNotAllowed);
    }

    // The gateway's answer to a method other than POST (Go's http.Error text).
    private static Task MethodNotAllowed(HttpContext http)
    {
        http.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
        http.Response.ContentType = "text/plain; charset=utf-8";
        http.Response.Headers.XContentTypeOptions = "nosniff";
        return http.Response.WriteAsync("Method Not Allowed\n", http.RequestAborted);
    }

    public ResponseHeader Header(long revision = 0) => new(Node.ClusterId, Node.MemberId, revision, Node.Status.Term);

    public delegate EtcdError? BodyParser<T>(ReadOnlySequence<byte> body, out T request);

    /// <summary>
    /// Reads the whole body and parses it before releasing the buffer. A body too large to hold a
    /// request within gRPC's receive limit (base64 grows bytes by 4/3) is refused unread.
    /// </summary>
    public async Task<(T? Request, EtcdError? Error)> ReadAsync<T>(BodyParser<T> parse)
    {
        long receiveLimit = Options.EffectiveMaxRecvBytes;
        var bodyLimit = receiveLimit * 4 / 3 + 64 * 1024;
        var reader = Http.Request.BodyReader;
        while (true)
        {
            ReadResult read;
            try
            {
                read = await reader.ReadAsync(Http.RequestAborted);
            }
            catch (BadHttpRequestException ex)
            {
                return (default, EtcdError.BadRequest(ex.Message));
            }
            var buffer = read.Buffer;
            var buffered = buffer.Length;
            if (buffered > bodyLimit)
            {
                // The size is taken before AdvanceTo: after it the buffer's segments are back in the
                // pipe's pool and its length no longer means anything.
                reader.AdvanceTo(buffer.End);
                return (default, EtcdError.MessageLargerThanMax(buffered * 3 / 4, receiveLimit));
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

    public static async Task WriteAsync(HttpContext http, int status, Action<Utf8JsonWriter> write, string contentType = "application/json")
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = GatewayJsonWriter.Create(buffer)) write(w);
        http.Response.StatusCode = status;
        http.Response.ContentType = contentType;
        http.Response.ContentLength = buffer.WrittenCount;
        await http.Response.Body.WriteAsync(buffer.WrittenMemory, http.RequestAborted);
    }

    public Task WriteAsync(int status, Action<Utf8JsonWriter> write) => WriteAsync(Http, status, write);

    public Task WriteErrorAsync(EtcdError error)
    {
        if (error.Code is GrpcCode.Unavailable or GrpcCode.Unknown)
            Logger.LogWarning("{Path} failed: {Message}", Http.Request.Path, error.Message);
        return WriteAsync(Http, error.HttpStatus, w => GatewayJsonWriter.Error(w, error));
    }

    /// <summary>
    /// Runs a cluster operation under the request timeout and turns its failures into etcd's errors: a
    /// node error by its code, and the timeout as "no leader" when none is known, else "request timed out".
    /// </summary>
    public async Task<(T? Value, EtcdError? Error)> ClusterAsync<T>(Func<CancellationToken, Task<T>> operation)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Http.RequestAborted);
        timeout.CancelAfter(Options.RequestTimeout);
        try
        {
            return (await operation(timeout.Token), null);
        }
        catch (RaftException ex)
        {
            return (default, EtcdError.From(ex));
        }
        catch (OperationCanceledException) when (!Http.RequestAborted.IsCancellationRequested)
        {
            return (default, Node.Status.Leader == 0 ? EtcdError.NoLeader : EtcdError.Timeout);
        }
    }

    /// <summary>A linearizable read barrier (ReadIndex) under the request timeout.</summary>
    public Task<(bool, EtcdError?)> BarrierAsync() =>
        ClusterAsync(async ct =>
        {
            await Node.ReadIndexAsync(ct);
            return true;
        });
}
