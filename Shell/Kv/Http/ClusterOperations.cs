using Raft.Interop;

namespace Raft.Kv.Http;

/// <summary>
/// The Cluster service's handlers without their wire format, shared by the JSON gateway
/// (<see cref="ClusterService"/>) and the gRPC service. Each answers with the members after the change,
/// in id order.
/// </summary>
internal static class ClusterOperations
{
    /// <summary>The members in id order, as etcd lists them.</summary>
    public static IReadOnlyList<Member> SortedMembers(IRaftNode node) => node.Members.OrderBy(m => m.Id).ToList();

    /// <summary>MemberList: after a linearizable read barrier when asked for.</summary>
    public static async Task<(IReadOnlyList<Member>? Members, EtcdError? Error)> ListAsync(GatewayContext c, bool linearizable)
    {
        if (linearizable)
        {
            var (_, error) = await c.BarrierAsync();
            if (error is not null) return (null, error);
        }
        return (SortedMembers(c.Node), null);
    }

    /// <summary>MemberAdd: the peer URLs checked as etcd checks them, then the conf change.</summary>
    public static async Task<(Member? Added, IReadOnlyList<Member>? Members, EtcdError? Error)> AddAsync(GatewayContext c, MemberAddRequest request)
    {
        if (Auth.AuthChecker.CheckAdmin(c.Store.Auth, c.Http) is { } denied) return (null, null, denied);
        if (PeerUrlCheck.Normalize(request.PeerUrls) is not { } urls) return (null, null, EtcdError.MemberBadUrls);
        var (added, error) = await c.ClusterAsync(ct => c.Node.AddMemberAsync(urls, request.IsLearner, ct));
        return error is null ? (added, SortedMembers(c.Node), null) : (null, null, error);
    }

    /// <summary>MemberRemove.</summary>
    public static Task<(IReadOnlyList<Member>? Members, EtcdError? Error)> RemoveAsync(GatewayContext c, ulong id) =>
        ChangeAsync(c, ct => c.Node.RemoveMemberAsync(id, ct));

    /// <summary>MemberPromote.</summary>
    public static Task<(IReadOnlyList<Member>? Members, EtcdError? Error)> PromoteAsync(GatewayContext c, ulong id) =>
        ChangeAsync(c, ct => c.Node.PromoteMemberAsync(id, ct));

    /// <summary>MemberUpdate: the member's new peer URLs, checked as etcd checks them.</summary>
    public static Task<(IReadOnlyList<Member>? Members, EtcdError? Error)> UpdateAsync(GatewayContext c, ulong id, IReadOnlyList<string> peerUrls) =>
        PeerUrlCheck.Normalize(peerUrls) is { } urls
            ? ChangeAsync(c, ct => c.Node.UpdateMemberAsync(id, urls, ct))
            : Task.FromResult<(IReadOnlyList<Member>?, EtcdError?)>((null, EtcdError.MemberBadUrls));

    private static async Task<(IReadOnlyList<Member>? Members, EtcdError? Error)> ChangeAsync(GatewayContext c, Func<CancellationToken, Task> change)
    {
        if (Auth.AuthChecker.CheckAdmin(c.Store.Auth, c.Http) is { } denied) return (null, denied);
        var (_, error) = await c.ClusterAsync(async ct =>
        {
            await change(ct);
            return true;
        });
        return error is null ? (SortedMembers(c.Node), null) : (null, error);
    }
}
