using Grpc.Core;
using Raft.Kv.Http;
using Mvcc = Raft.Kv.Mvcc;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Grpc;

/// <summary>
/// etcdserverpb.KV over gRPC, through the same handlers as the gateway's <c>/v3/kv/*</c>
/// (<see cref="KvOperations"/>).
/// </summary>
internal sealed class KvGrpcService : Pb.KV.KVBase
{
    public override async Task<Pb.RangeResponse> Range(Pb.RangeRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (response, error) = await KvOperations.RangeAsync(c, GrpcConvert.Range(request));
        return error is null ? GrpcConvert.Range(c.Header(), response!) : throw error.ToRpc();
    }

    public override async Task<Pb.PutResponse> Put(Pb.PutRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (response, error) = await KvOperations.PutAsync(c, GrpcConvert.Put(request));
        return error is null ? GrpcConvert.Put(c.Header(), response!) : throw error.ToRpc();
    }

    public override async Task<Pb.DeleteRangeResponse> DeleteRange(Pb.DeleteRangeRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (response, error) = await KvOperations.DeleteRangeAsync(c, GrpcConvert.DeleteRange(request));
        return error is null ? GrpcConvert.DeleteRange(c.Header(), response!) : throw error.ToRpc();
    }

    public override async Task<Pb.TxnResponse> Txn(Pb.TxnRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (response, error) = await KvOperations.TxnAsync(c, GrpcConvert.Txn(request));
        return error is null ? GrpcConvert.Txn(c.Header(), response!) : throw error.ToRpc();
    }

    public override async Task<Pb.CompactionResponse> Compact(Pb.CompactionRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (response, error) = await KvOperations.CompactAsync(c, new Mvcc.CompactionRequest(request.Revision, request.Physical));
        return error is null
            ? new Pb.CompactionResponse { Header = GrpcConvert.Header(c.Header() with { Revision = response!.Revision }) }
            : throw error.ToRpc();
    }
}
