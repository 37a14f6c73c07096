using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
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

    private static async Task Put(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<PutRequest>(GatewayJsonReader.ReadPut);
        PutResponse? response = null;
        if (error is null) (response, error) = await KvOperations.PutAsync(c, request!);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.Put(w, c.Header(), response!)));
    }

    private static async Task DeleteRange(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<DeleteRangeRequest>(GatewayJsonReader.ReadDeleteRange);
        DeleteRangeResponse? response = null;
        if (error is null) (response, error) = await KvOperations.DeleteRangeAsync(c, request!);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.DeleteRange(w, c.Header(), response!)));
    }

    private static async Task Range(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<RangeRequest>(GatewayJsonReader.ReadRange);
        RangeResponse? response = null;
        if (error is null) (response, error) = await KvOperations.RangeAsync(c, request!);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.Range(w, c.Header(), response!)));
    }

    private static async Task Txn(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<TxnRequest>(GatewayJsonReader.ReadTxn);
        TxnResponse? response = null;
        if (error is null) (response, error) = await KvOperations.TxnAsync(c, request!);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.Txn(w, c.Header(), response!)));
    }

    private static async Task Compaction(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<CompactionRequest>(GatewayJsonReader.ReadCompaction);
        CompactionResponse? response = null;
        if (error is null) (response, error) = await KvOperations.CompactAsync(c, request!);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.Compaction(w, c.Header(), response!)));
    }
}
