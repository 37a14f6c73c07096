using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Raft.Kv.Http;

/// <summary>etcd's Cluster service on the gateway: <c>/v3/cluster/member/{list,add,remove,promote,update}</c>.</summary>
internal static class ClusterService
{
    public static void Map(IEndpointRouteBuilder endpoints, SharedServices services)
    {
        GatewayContext.MapGateway(endpoints, services, "/v3/cluster/member/list", MemberList);
        GatewayContext.MapGateway(endpoints, services, "/v3/cluster/member/add", MemberAdd);
        GatewayContext.MapGateway(endpoints, services, "/v3/cluster/member/remove", MemberRemove);
        GatewayContext.MapGateway(endpoints, services, "/v3/cluster/member/promote", MemberPromote);
        GatewayContext.MapGateway(endpoints, services, "/v3/cluster/member/update", MemberUpdate);
    }

    private static async Task MemberList(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<MemberListRequest>(GatewayJsonReader.ReadMemberList);
        IReadOnlyList<Raft.Interop.Member>? members = null;
        if (error is null) (members, error) = await ClusterOperations.ListAsync(c, request!.Linearizable);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.Members(w, c.Header(), members!)));
    }

    private static async Task MemberAdd(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<MemberAddRequest>(GatewayJsonReader.ReadMemberAdd);
        Raft.Interop.Member? added = null;
        IReadOnlyList<Raft.Interop.Member>? members = null;
        if (error is null) (added, members, error) = await ClusterOperations.AddAsync(c, request!);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.MemberAdd(w, c.Header(), added!, members!)));
    }

    private static Task MemberRemove(HttpContext http) => MemberChange(http, ClusterOperations.RemoveAsync);

    private static Task MemberPromote(HttpContext http) => MemberChange(http, ClusterOperations.PromoteAsync);

    private static async Task MemberUpdate(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<MemberUpdateRequest>(GatewayJsonReader.ReadMemberUpdate);
        IReadOnlyList<Raft.Interop.Member>? members = null;
        if (error is null) (members, error) = await ClusterOperations.UpdateAsync(c, request!.Id, request.PeerUrls);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.Members(w, c.Header(), members!)));
    }

    private static async Task MemberChange(HttpContext http, Func<GatewayContext, ulong, Task<(IReadOnlyList<Raft.Interop.Member>?, EtcdError?)>> change)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<MemberIdRequest>(GatewayJsonReader.ReadMemberId);
        IReadOnlyList<Raft.Interop.Member>? members = null;
        if (error is null) (members, error) = await change(c, request!.Id);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.Members(w, c.Header(), members!)));
    }
}
