using Grpc.Core;
using Raft.Kv.Http;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Grpc;

/// <summary>
/// etcdserverpb.KV over gRPC, through the same handlers as the gateway's <c>/v3/kv/*</c>
/// (<see cref="KvOperations"/>). Txn and Compact need the MVCC store's history and are not served yet.
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

    public override Task<Pb.TxnResponse> Txn(Pb.TxnRequest request, ServerCallContext context) =>
        throw GrpcConvert.Unimplemented("Txn (it needs the MVCC store)");

    public override Task<Pb.CompactionResponse> Compact(Pb.CompactionRequest request, ServerCallContext context) =>
        throw GrpcConvert.Unimplemented("Compact (it needs the MVCC store's history)");
}
