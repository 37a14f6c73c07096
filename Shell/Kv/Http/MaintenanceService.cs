using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Raft.Kv.Codec;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Http;

/// <summary>etcd's Maintenance service on the gateway: <c>/v3/maintenance/status</c> and <c>/v3/maintenance/alarm</c>.</summary>
internal static class MaintenanceService
{
    public static void Map(IEndpointRouteBuilder endpoints, SharedServices services)
    {
        GatewayContext.MapGateway(endpoints, services, "/v3/maintenance/status", Status);
        GatewayContext.MapGateway(endpoints, services, "/v3/maintenance/alarm", Alarm);
    }

    // etcd's Maintenance.Alarm: every action goes through Raft, so every member lists the same alarms.
    private static async Task Alarm(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<AlarmRequest>(GatewayJsonReader.ReadAlarm);
        object? result = null;
        if (error is null) (result, error) = await c.ClusterAsync(ct => c.Node.ProposeAsync(KvCommandCodec.Encode(request!), ct));
        if (error is null && result is not AlarmResponse) error = result is KvError e ? EtcdError.From(e) : new EtcdError(GrpcCode.Unknown, $"unexpected answer {result}");
        if (error is not null)
        {
            await c.WriteErrorAsync(error);
            return;
        }
        await c.WriteAsync(200, w => GatewayJsonWriter.Alarm(w, c.Header(c.Store.Store.CurrentRevision), (AlarmResponse)result!));
    }

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
