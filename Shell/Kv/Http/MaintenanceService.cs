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

    private static async Task Alarm(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<AlarmRequest>(GatewayJsonReader.ReadAlarm);
        AlarmResponse? response = null;
        if (error is null) (response, error) = await AlarmAsync(c, request!);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.Alarm(w, c.Header(c.Store.Store.CurrentRevision), response!)));
    }

    /// <summary>
    /// etcd's Maintenance.Alarm, shared with the gRPC service: every action (GET too) goes through
    /// Raft, so every member lists the same alarms.
    /// </summary>
    /// <remarks>
    /// With auth on, raising or clearing an alarm needs the root role (an alarm stops every write of
    /// the cluster); listing them needs a valid token or none, as etcd.
    /// </remarks>
    internal static async Task<(AlarmResponse? Response, EtcdError? Error)> AlarmAsync(GatewayContext c, AlarmRequest request)
    {
        if (request.Action != AlarmAction.Get && Auth.AuthChecker.CheckAdmin(c.Store.Auth, c.Http) is { } denied) return (null, denied);
        var (command, invalid) = Auth.AuthChecker.Stamp(c.Store.Auth, c.Http, KvCommandCodec.Encode(request));
        if (invalid is not null) return (null, invalid);
        var (result, error) = await c.ClusterAsync(ct => c.Node.ProposeAsync(command!, ct));
        if (error is not null) return (null, error);
        return result switch
        {
            AlarmResponse r => (r, null),
            KvError e => (null, EtcdError.From(e)),
            _ => (null, new EtcdError(GrpcCode.Unknown, $"unexpected answer {result}")),
        };
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
        var (header, status) = StatusOf(c);
        await c.WriteAsync(200, w => GatewayJsonWriter.MaintenanceStatus(w, header, status));
    }

    /// <summary>Maintenance.Status's answer for this member, shared with the gRPC service.</summary>
    internal static (ResponseHeader Header, GatewayJsonWriter.Status Status) StatusOf(GatewayContext c)
    {
        var status = c.Node.Status;
        var store = c.Store.Store;
        var s = new GatewayJsonWriter.Status(
            c.Options.Version, store.SizeBytes, status.Leader, status.CommitIndex, status.Term, status.AppliedIndex,
            status.Leader == 0 ? [EtcdError.NoLeader.Message] : [], store.SizeBytes, status.IsLearner);
        return (new ResponseHeader(c.Node.ClusterId, c.Node.MemberId, store.CurrentRevision, status.Term), s);
    }
}
