using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Raft.Interop;

namespace Raft.Kv.Http;

/// <summary>etcd's Cluster service on the gateway: <c>/v3/cluster/member/{list,add,remove,promote}</c>.</summary>
internal static class ClusterService
{
    public static void Map(IEndpointRouteBuilder endpoints, SharedServices services)
    {
        GatewayContext.MapGateway(endpoints, services, "/v3/cluster/member/list", MemberList);
        GatewayContext.MapGateway(endpoints, services, "/v3/cluster/member/add", MemberAdd);
        GatewayContext.MapGateway(endpoints, services, "/v3/cluster/member/remove", MemberRemove);
        GatewayContext.MapGateway(endpoints, services, "/v3/cluster/member/promote", MemberPromote);
    }

    private static IReadOnlyList<Member> SortedMembers(IRaftNode node) => node.Members.OrderBy(m => m.Id).ToList();

    private static async Task MemberList(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<MemberListRequest>(GatewayJsonReader.ReadMemberList);
        if (error is null && request!.Linearizable) (_, error) = await c.BarrierAsync();
        if (error is not null)
        {
            await c.WriteErrorAsync(error);
            return;
        }
        await c.WriteAsync(200, w => GatewayJsonWriter.Members(w, c.Header(), SortedMembers(c.Node)));
    }

    private static async Task MemberAdd(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<MemberAddRequest>(GatewayJsonReader.ReadMemberAdd);
        var urls = error is null ? PeerUrlCheck.Normalize(request!.PeerUrls) : null;
        if (error is null && urls is null) error = EtcdError.MemberBadUrls;
        Member? added = null;
        if (error is null) (added, error) = await c.ClusterAsync(ct => c.Node.AddMemberAsync(urls!, request!.IsLearner, ct));
        if (error is not null)
        {
            await c.WriteErrorAsync(error);
            return;
        }
        await c.WriteAsync(200, w => GatewayJsonWriter.MemberAdd(w, c.Header(), added!, SortedMembers(c.Node)));
    }

    private static Task MemberRemove(HttpContext http) =>
        MemberChange(http, (node, id, ct) => node.RemoveMemberAsync(id, ct));

    private static Task MemberPromote(HttpContext http) =>
        MemberChange(http, (node, id, ct) => node.PromoteMemberAsync(id, ct));

    private static async Task MemberChange(HttpContext http, Func<IRaftNode, ulong, CancellationToken, Task> change)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<MemberIdRequest>(GatewayJsonReader.ReadMemberId);
        if (error is null)
        {
            (_, error) = await c.ClusterAsync(async ct =>
            {
                await change(c.Node, request!.Id, ct);
                return true;
            });
        }
        if (error is not null)
        {
            await c.WriteErrorAsync(error);
            return;
        }
        await c.WriteAsync(200, w => GatewayJsonWriter.Members(w, c.Header(), SortedMembers(c.Node)));
    }
}
