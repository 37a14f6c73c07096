using System.Buffers;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Raft.Kv.Grpc;
using Raft.Kv.Http;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Watch;

/// <summary>
/// The gateway's <c>/v3/watch</c>, as etcd's grpc-gateway serves the bidirectional stream: the request
/// body is a sequence of JSON WatchRequests (read as they arrive), the answer a newline-delimited
/// stream of <c>{"result": WatchResponse}</c>, from the same handlers as the gRPC service.
/// </summary>
internal static class WatchGateway
{
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithPreserveProtoFieldNames(true));
    internal static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    public static void Map(IEndpointRouteBuilder endpoints, SharedServices services) =>
        GatewayContext.MapGateway(endpoints, services, "/v3/watch", HandleAsync);

    private static async Task HandleAsync(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        using var stream = http.RequestServices.GetRequiredService<WatcherHub>().OpenStream(http.Connection.Id);
        var ct = http.RequestAborted;
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = "application/json";
        await http.Response.StartAsync(ct);
        var send = Task.Run(async () =>
        {
            await foreach (var batch in stream.ReadAllAsync(ct))
            {
                foreach (var response in WatchResponses.Of(c, batch))
                {
                    var line = "{\"result\":" + Formatter.Format(response) + "}\n";
                    await http.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(line), ct);
                }
                await http.Response.Body.FlushAsync(ct);
            }
        }, ct);
        try
        {
            // JSON carries bytes as base64 (4/3), as the other gateway bodies' limit allows.
            await ReadRequestsAsync(c, stream, (int)Math.Min(int.MaxValue, (long)c.Options.EffectiveMaxRecvBytes * 4 / 3 + 64 * 1024), ct);
            // As etcd's gateway: the body ending ends nothing; the client closes the connection.
            await send;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidJsonException or JsonException or InvalidDataException)
        {
            await http.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(
                "{\"error\":{\"grpc_code\":3,\"http_code\":400,\"message\":" + JsonSerializer.Serialize(ex.Message) + ",\"http_status\":\"Bad Request\"}}\n"), CancellationToken.None);
        }
        finally
        {
            stream.Dispose();
            try
            {
                await send;
            }
            catch (Exception) when (ct.IsCancellationRequested || send.IsCanceled)
            {
            }
        }
    }

    // Each complete JSON value of the body, as soon as it has arrived.
    private static async Task ReadRequestsAsync(GatewayContext c, WatchStream stream, int bodyLimit, CancellationToken ct)
    {
        var reader = c.Http.Request.BodyReader;
        while (true)
        {
            var read = await reader.ReadAsync(ct);
            var buffer = read.Buffer;
            while (TryTakeValue(ref buffer, read.IsCompleted, out var json))
            {
                await stream.WaitForControlRoomAsync(ct);
                WatchResponses.Handle(c, stream, Parser.Parse<Pb.WatchRequest>(json));
            }
            // One request that never ends is refused as gRPC refuses a message past its receive limit.
            if (buffer.Length > bodyLimit)
                throw new InvalidDataException($"grpc: received message larger than max ({buffer.Length} vs. {bodyLimit})");
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (read.IsCompleted) return;
        }
    }

    internal static bool TryTakeValue(ref ReadOnlySequence<byte> buffer, bool final, out string json)
    {
        json = "";
        var r = new Utf8JsonReader(buffer, new JsonReaderOptions { AllowMultipleValues = true });
        try
        {
            if (!r.Read()) return false;
            if (!r.TrySkip()) return false;
        }
        catch (JsonException) when (!final)
        {
            // A value cut off where the bytes so far end: wait for more.
            return false;
        }
        var end = buffer.GetPosition(r.BytesConsumed);
        json = Encoding.UTF8.GetString(buffer.Slice(0, end));
        buffer = buffer.Slice(end);
        return true;
    }
}
