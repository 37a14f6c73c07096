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
        var (header, status) = StatusOf(c);
        await c.WriteAsync(200, w => GatewayJsonWriter.MaintenanceStatus(w, header, status));
    }

    /// <summary>Maintenance.Status's answer for this member, shared with the gRPC service.</summary>
    internal static (ResponseHeader Header, GatewayJsonWriter.Status Status) StatusOf(GatewayContext c)
    {
        var status = c.Node.Status;
        var store = c.Store.Current;
        var s = new GatewayJsonWriter.Status(
            c.Options.Version, store.DataSize, status.Leader, status.CommitIndex, status.Term, status.AppliedIndex,
            status.Leader == 0 ? [EtcdError.NoLeader.Message] : [], store.DataSize, status.IsLearner);
        return (new ResponseHeader(c.Node.ClusterId, c.Node.MemberId, store.Revision, status.Term), s);
    }
}
