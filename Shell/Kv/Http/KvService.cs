using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Raft.Kv.Codec;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Http;

/// <summary>etcd's KV service on the gateway: <c>/v3/kv/put</c>, <c>/v3/kv/range</c>, <c>/v3/kv/deleterange</c>, <c>/v3/kv/txn</c>, <c>/v3/kv/compaction</c>.</summary>
internal static class KvService
{
    public static void Map(IEndpointRouteBuilder endpoints, SharedServices services)
    {
        GatewayContext.MapGateway(endpoints, services, "/v3/kv/put", Put);
        GatewayContext.MapGateway(endpoints, services, "/v3/kv/range", Range);
        GatewayContext.MapGateway(endpoints, services, "/v3/kv/deleterange", DeleteRange);
        GatewayContext.MapGateway(endpoints, services, "/v3/kv/txn", Txn);
        GatewayContext.MapGateway(endpoints, services, "/v3/kv/compaction", Compaction);
    }

    private static async Task Txn(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<TxnRequest>(GatewayJsonReader.ReadTxn);
        error ??= request!.Check() is { } invalid ? EtcdError.From(invalid) : null;
        if (error is not null)
        {
            await c.WriteErrorAsync(error);
            return;
        }
        await ProposeAsync(c, KvCommandCodec.Encode(request!), (w, result) => result is TxnResponse r && Write(() => GatewayJsonWriter.Txn(w, c.Header(), r)));
    }

    private static async Task Compaction(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<CompactionRequest>(GatewayJsonReader.ReadCompaction);
        if (error is not null)
        {
            await c.WriteErrorAsync(error);
            return;
        }
        await ProposeAsync(c, KvCommandCodec.Encode(request!), (w, result) => result is CompactionResponse r && Write(() => GatewayJsonWriter.Compaction(w, c.Header(), r)));
    }

    private static async Task Put(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<PutRequest>(GatewayJsonReader.ReadPut);
        error ??= request!.Check() is { } invalid ? EtcdError.From(invalid) : null;
        if (error is not null)
        {
            await c.WriteErrorAsync(error);
            return;
        }
        await ProposeAsync(c, KvCommandCodec.Encode(request!), (w, result) => result is PutResponse r && Write(() => GatewayJsonWriter.Put(w, c.Header(), r)));
    }

    private static async Task DeleteRange(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<DeleteRangeRequest>(GatewayJsonReader.ReadDeleteRange);
        error ??= request!.Check() is { } invalid ? EtcdError.From(invalid) : null;
        if (error is not null)
        {
            await c.WriteErrorAsync(error);
            return;
        }
        await ProposeAsync(c, KvCommandCodec.Encode(request!), (w, result) => result is DeleteRangeResponse r && Write(() => GatewayJsonWriter.DeleteRange(w, c.Header(), r)));
    }

    private static bool Write(Action write)
    {
        write();
        return true;
    }

    /// <summary>Proposes a command and answers with the applied result, once the node has applied it.</summary>
    private static async Task ProposeAsync(GatewayContext c, byte[] command, Func<Utf8JsonWriter, object?, bool> writeResult)
    {
        // etcd checks the marshalled request against --max-request-bytes; gRPC refuses far larger ones first.
        var requestSize = KvCommandCodec.RequestSize(command);
        if (requestSize > c.Options.MaxRequestBytes + GatewayContext.GrpcOverheadBytes)
        {
            await c.WriteErrorAsync(EtcdError.MessageLargerThanMax(requestSize, c.Options.MaxRequestBytes + GatewayContext.GrpcOverheadBytes));
            return;
        }
        if (command.Length > c.Options.MaxRequestBytes)
        {
            await c.WriteErrorAsync(EtcdError.RequestTooLarge);
            return;
        }
        if (await QuotaExceededAsync(c, command) is { } full)
        {
            await c.WriteErrorAsync(full);
            return;
        }
        var (result, error) = await c.ClusterAsync(ct => c.Node.ProposeAsync(command, ct));
        if (error is null && result is KvError kvError) error = EtcdError.From(kvError);
        if (error is not null)
        {
            await c.WriteErrorAsync(error);
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

    // etcd's backendQuota.Available with the default 2 GiB: a write that would take the backend past
    // the quota raises NOSPACE for this member through Raft (so every member refuses writes) and fails.
    private const long DefaultQuotaBytes = 2L * 1024 * 1024 * 1024;
    private const int KvOverheadBytes = 256;

    private static async Task<EtcdError?> QuotaExceededAsync(GatewayContext c, byte[] command)
    {
        var quota = c.Options.QuotaBackendBytes == 0 ? DefaultQuotaBytes : c.Options.QuotaBackendBytes;
        if (quota < 0 || KvCommandCodec.Decode(command) is not (PutRequest or TxnRequest)) return null;
        if (KvCommandCodec.Decode(command) is TxnRequest t && !KvApplier.IsWrite(t)) return null;
        if (c.Store.Store.SizeBytes + command.Length + KvOverheadBytes < quota) return null;
        var alarm = KvCommandCodec.Encode(new AlarmRequest(AlarmAction.Activate, c.Node.MemberId, AlarmType.NoSpace));
        var (_, error) = await c.ClusterAsync(ct => c.Node.ProposeAsync(alarm, ct));
        return error ?? EtcdError.From(KvError.NoSpace);
    }

    private static async Task Range(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<RangeRequest>(GatewayJsonReader.ReadRange);
        error ??= request!.Check() is { } invalid ? EtcdError.From(invalid) : null;
        if (error is null && !request!.Serializable) (_, error) = await c.BarrierAsync();
        // A restarted member replays its committed log while it already serves: a local read before
        // the replay is done would answer an older revision than the member answered before.
        if (error is null && request!.Serializable && c.Node is Raft.Shell.Node.RaftNode { AppliedCommittedAtStart.IsCompleted: false } node)
            (_, error) = await c.ClusterAsync(async ct =>
            {
                await node.AppliedCommittedAtStart.WaitAsync(ct);
                return true;
            });
        if (error is not null)
        {
            await c.WriteErrorAsync(error);
            return;
        }
        switch (c.Store.Range(request!))
        {
            case RangeResponse r:
                await c.WriteAsync(200, w => GatewayJsonWriter.Range(w, c.Header(), r));
                break;
            case KvError e:
                await c.WriteErrorAsync(EtcdError.From(e));
                break;
        }
    }
}
