using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Raft.Kv.Http;

/// <summary>etcd's Maintenance service on the gateway: <c>/v3/maintenance/status</c>.</summary>
internal static class MaintenanceService
{
    public static void Map(IEndpointRouteBuilder endpoints, SharedServices services) =>
        GatewayContext.MapGateway(endpoints, services, "/v3/maintenance/status", Status);

    private static async Task Status(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (_, error) = await c.ReadAsync((ReadOnlySequence<byte> body, out bool none) =>
        {
            none = true;
            return GatewayJsonReader.ReadEmpty(body);
        });
        if (error is not null)
        {
            await c.WriteErrorAsync(error);
            return;
        }
        var status = c.Node.Status;
        var store = c.Store.Store;
        var s = new GatewayJsonWriter.Status(
            c.Options.Version, store.SizeBytes, status.Leader, status.CommitIndex, status.Term, status.AppliedIndex,
            status.Leader == 0 ? [EtcdError.NoLeader.Message] : [], store.SizeBytes, status.IsLearner);
        await c.WriteAsync(200, w => GatewayJsonWriter.MaintenanceStatus(w, new ResponseHeader(c.Node.ClusterId, c.Node.MemberId, store.CurrentRevision, status.Term), s));
    }
}
