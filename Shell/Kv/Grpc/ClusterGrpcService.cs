using Grpc.Core;
using Raft.Kv.Http;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Grpc;

/// <summary>etcdserverpb.Cluster over gRPC, through the gateway's handlers (<see cref="ClusterOperations"/>).</summary>
internal sealed class ClusterGrpcService : Pb.Cluster.ClusterBase
{
    public override async Task<Pb.MemberListResponse> MemberList(Pb.MemberListRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (members, error) = await ClusterOperations.ListAsync(c, request.Linearizable);
        if (error is not null) throw error.ToRpc();
        var response = new Pb.MemberListResponse { Header = GrpcConvert.Header(c.Header()) };
        response.Members.Add(GrpcConvert.Members(members!));
        return response;
    }

    public override async Task<Pb.MemberAddResponse> MemberAdd(Pb.MemberAddRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (added, members, error) = await ClusterOperations.AddAsync(c, new MemberAddRequest(request.PeerURLs.ToList(), request.IsLearner));
        if (error is not null) throw error.ToRpc();
        // etcd answers with the member as proposed: no name or client URLs yet.
        var response = new Pb.MemberAddResponse { Header = GrpcConvert.Header(c.Header()), Member = GrpcConvert.Member(added! with { Name = "", ClientUrls = [] }) };
        response.Members.Add(GrpcConvert.Members(members!));
        return response;
    }

    public override async Task<Pb.MemberRemoveResponse> MemberRemove(Pb.MemberRemoveRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (members, error) = await ClusterOperations.RemoveAsync(c, request.ID);
        if (error is not null) throw error.ToRpc();
        var response = new Pb.MemberRemoveResponse { Header = GrpcConvert.Header(c.Header()) };
        response.Members.Add(GrpcConvert.Members(members!));
        return response;
    }

    public override async Task<Pb.MemberUpdateResponse> MemberUpdate(Pb.MemberUpdateRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (members, error) = await ClusterOperations.UpdateAsync(c, request.ID, request.PeerURLs.ToList());
        if (error is not null) throw error.ToRpc();
        var response = new Pb.MemberUpdateResponse { Header = GrpcConvert.Header(c.Header()) };
        response.Members.Add(GrpcConvert.Members(members!));
        return response;
    }

    public override async Task<Pb.MemberPromoteResponse> MemberPromote(Pb.MemberPromoteRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (members, error) = await ClusterOperations.PromoteAsync(c, request.ID);
        if (error is not null) throw error.ToRpc();
        var response = new Pb.MemberPromoteResponse { Header = GrpcConvert.Header(c.Header()) };
        response.Members.Add(GrpcConvert.Members(members!));
        return response;
    }
}
