using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Http;

/// <summary>etcd's KV service on the gateway: <c>/v3/kv/put</c>, <c>/v3/kv/range</c>, <c>/v3/kv/deleterange</c>.</summary>
internal static class KvService
{
    public static void Map(IEndpointRouteBuilder endpoints, SharedServices services)
    {
        GatewayContext.MapGateway(endpoints, services, "/v3/kv/put", Put);
        GatewayContext.MapGateway(endpoints, services, "/v3/kv/range", Range);
        GatewayContext.MapGateway(endpoints, services, "/v3/kv/deleterange", DeleteRange);
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
}
