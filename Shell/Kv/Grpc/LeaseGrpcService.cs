using Grpc.Core;
using Raft.Kv.Http;
using Raft.Kv.Lease;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Grpc;

/// <summary>etcdserverpb.Lease over gRPC, through the same handlers as the gateway's <c>/v3/lease/*</c> (<see cref="LeaseOperations"/>).</summary>
internal sealed class LeaseGrpcService : Pb.Lease.LeaseBase
{
    public override async Task<Pb.LeaseGrantResponse> LeaseGrant(Pb.LeaseGrantRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (response, error) = await LeaseOperations.GrantAsync(c, request.TTL, request.ID);
        return error is null
            ? new Pb.LeaseGrantResponse { Header = GrpcConvert.Header(c.Header(response!.Revision)), ID = response.Id, TTL = response.Ttl }
            : throw error.ToRpc();
    }

    public override async Task<Pb.LeaseRevokeResponse> LeaseRevoke(Pb.LeaseRevokeRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (response, error) = await LeaseOperations.RevokeAsync(c, request.ID);
        return error is null ? new Pb.LeaseRevokeResponse { Header = GrpcConvert.Header(c.Header(response!.Revision)) } : throw error.ToRpc();
    }

    // etcd's LeaseServer.leaseKeepAlive: one answer per request, in order; a lease that does not
    // exist answers TTL 0; an error ends the stream.
    public override async Task LeaseKeepAlive(IAsyncStreamReader<Pb.LeaseKeepAliveRequest> requestStream, IServerStreamWriter<Pb.LeaseKeepAliveResponse> responseStream, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        while (await requestStream.MoveNext(context.CancellationToken))
        {
            var id = requestStream.Current.ID;
            var (ttl, error) = await LeaseOperations.KeepAliveAsync(c, id);
            if (error is not null) throw error.ToRpc();
            await responseStream.WriteAsync(new Pb.LeaseKeepAliveResponse
            {
                Header = GrpcConvert.Header(c.Header(c.Store.Store.CurrentRevision)), ID = id, TTL = ttl,
            }, context.CancellationToken);
        }
    }

    public override async Task<Pb.LeaseTimeToLiveResponse> LeaseTimeToLive(Pb.LeaseTimeToLiveRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (response, error) = await LeaseOperations.TimeToLiveAsync(c, request.ID, request.Keys);
        if (error is not null) throw error.ToRpc();
        var pb = new Pb.LeaseTimeToLiveResponse
        {
            Header = GrpcConvert.Header(c.Header(c.Store.Store.CurrentRevision)), ID = response!.Id, TTL = response.RemainingTtl, GrantedTTL = response.GrantedTtl,
        };
        foreach (var key in response.Keys) pb.Keys.Add(Google.Protobuf.ByteString.CopyFrom(key));
        return pb;
    }

    public override async Task<Pb.LeaseLeasesResponse> LeaseLeases(Pb.LeaseLeasesRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (response, error) = await LeaseOperations.LeasesAsync(c);
        if (error is not null) throw error.ToRpc();
        var pb = new Pb.LeaseLeasesResponse { Header = GrpcConvert.Header(c.Header(c.Store.Store.CurrentRevision)) };
        foreach (var id in response!) pb.Leases.Add(new Pb.LeaseStatus { ID = id });
        return pb;
    }
}
