using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Raft.Kv.Http;

namespace Raft.Kv.Lease;

/// <summary>
/// etcd's Lease service on the gateway: <c>/v3/lease/grant</c>, <c>/v3/lease/revoke</c> (and the
/// older <c>/v3/kv/lease/revoke</c>), <c>/v3/lease/keepalive</c> (one request, one answer),
/// <c>/v3/lease/timetolive</c> (and <c>/v3/kv/lease/timetolive</c>), <c>/v3/lease/leases</c> (and <c>/v3/kv/lease/leases</c>).
/// </summary>
internal static class LeaseGatewayService
{
    public static void Map(IEndpointRouteBuilder endpoints, SharedServices services)
    {
        GatewayContext.MapGateway(endpoints, services, "/v3/lease/grant", Grant);
        GatewayContext.MapGateway(endpoints, services, "/v3/lease/revoke", Revoke);
        GatewayContext.MapGateway(endpoints, services, "/v3/kv/lease/revoke", Revoke);
        GatewayContext.MapGateway(endpoints, services, "/v3/lease/keepalive", KeepAlive);
        GatewayContext.MapGateway(endpoints, services, "/v3/lease/timetolive", TimeToLive);
        GatewayContext.MapGateway(endpoints, services, "/v3/kv/lease/timetolive", TimeToLive);
        GatewayContext.MapGateway(endpoints, services, "/v3/lease/leases", Leases);
        GatewayContext.MapGateway(endpoints, services, "/v3/kv/lease/leases", Leases);
    }

    private static async Task Grant(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<(long Ttl, long Id)>(GatewayJsonReader.ReadLeaseGrant);
        LeaseGrantResponse? response = null;
        if (error is null) (response, error) = await LeaseOperations.GrantAsync(c, request.Ttl, request.Id);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.LeaseGrant(w, c.Header(response!.Revision), response.Id, response.Ttl)));
    }

    private static async Task Revoke(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (id, error) = await c.ReadAsync<long>(GatewayJsonReader.ReadLeaseId);
        LeaseRevokeResponse? response = null;
        if (error is null) (response, error) = await LeaseOperations.RevokeAsync(c, id);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.HeaderOnly(w, c.Header(response!.Revision))));
    }

    private static async Task KeepAlive(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (id, error) = await c.ReadAsync<long>(GatewayJsonReader.ReadLeaseId);
        long ttl = 0;
        if (error is null) (ttl, error) = await LeaseOperations.KeepAliveAsync(c, id);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.LeaseKeepAlive(w, c.Header(c.Store.Store.CurrentRevision), id, ttl)));
    }

    private static async Task TimeToLive(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<(long Id, bool Keys)>(GatewayJsonReader.ReadLeaseTimeToLive);
        LeaseTimeToLive? response = null;
        if (error is null) (response, error) = await LeaseOperations.TimeToLiveAsync(c, request.Id, request.Keys);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.LeaseTimeToLive(w, c.Header(c.Store.Store.CurrentRevision), response!)));
    }

    private static async Task Leases(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (_, error) = await c.ReadAsync((System.Buffers.ReadOnlySequence<byte> body, out bool none) =>
        {
            none = true;
            return GatewayJsonReader.ReadEmpty(body);
        });
        IReadOnlyList<long>? response = null;
        if (error is null) (response, error) = await LeaseOperations.LeasesAsync(c);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.LeaseLeases(w, c.Header(c.Store.Store.CurrentRevision), response!)));
    }
}
