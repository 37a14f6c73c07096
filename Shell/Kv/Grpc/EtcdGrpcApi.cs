using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Raft.Kv.Http;

namespace Raft.Kv.Grpc;

/// <summary>
/// etcd v3's gRPC API (package etcdserverpb, so the paths are etcd's: <c>/etcdserverpb.KV/Range</c>
/// ...) on an <see cref="Raft.Interop.IRaftNode"/> and a <see cref="KvStateMachine"/>, answered by the
/// same handlers as the JSON gateway. Served: KV Range, Put, DeleteRange, Txn, Compact; Lease; Cluster;
/// Maintenance Status, MoveLeader, Alarm, Hash, HashKV; Watch; Auth. Everything else answers Unimplemented.
/// </summary>
public static class EtcdGrpcApi
{
    /// <summary>
    /// Maps the services. Needs <c>AddKvService</c> (which registers gRPC) and, for clients such as
    /// etcdctl that speak cleartext HTTP/2, a client port from <c>UseEtcdClientUrls</c>. Every request
    /// message is walked by its descriptor before Google.Protobuf parses it (<see cref="CheckedGrpcRequestStream"/>).
    /// </summary>
    public static IEndpointRouteBuilder MapEtcdGrpcApi(this IEndpointRouteBuilder endpoints)
    {
        var services = new SharedServices(endpoints.ServiceProvider);
        endpoints.MapGrpcService<KvGrpcService>().WithMetadata(services).Add(GrpcRequestCheck.Apply);
        endpoints.MapGrpcService<ClusterGrpcService>().WithMetadata(services).Add(GrpcRequestCheck.Apply);
        endpoints.MapGrpcService<MaintenanceGrpcService>().WithMetadata(services).Add(GrpcRequestCheck.Apply);
        endpoints.MapGrpcService<WatchGrpcService>().WithMetadata(services).Add(GrpcRequestCheck.Apply);
        endpoints.MapGrpcService<LeaseGrpcService>().WithMetadata(services).Add(GrpcRequestCheck.Apply);
        endpoints.MapGrpcService<AuthGrpcService>().WithMetadata(services).Add(GrpcRequestCheck.Apply);
        return endpoints;
    }
}
