using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using Raft.Interop;
using Raft.Kv.Metrics;

namespace Raft.Kv.Http;

/// <summary>
/// etcd v3's JSON gateway on an <see cref="IRaftNode"/> and a <see cref="KvStateMachine"/>: the KV,
/// cluster and maintenance paths etcd's users script against, plus <c>/health</c>, <c>/metrics</c>
/// and a JSON status page. Each service is its own class (<see cref="KvService"/>,
/// <see cref="ClusterService"/>, <see cref="MaintenanceService"/>, <see cref="StatusEndpoints"/>).
/// </summary>
public static class EtcdJsonApi
{
    /// <summary>
    /// Maps the API. Uses, from the request services: <see cref="IRaftNode"/>, <see cref="KvStateMachine"/>,
    /// <see cref="IOptions{KvServiceOptions}"/>, and when registered <see cref="KvMetrics"/> and
    /// <see cref="PrometheusExporter"/> (then <c>GET /metrics</c> is mapped too).
    /// </summary>
    public static IEndpointRouteBuilder MapEtcdJsonApi(this IEndpointRouteBuilder endpoints)
    {
        var services = new SharedServices(endpoints.ServiceProvider);
        KvService.Map(endpoints, services);
        ClusterService.Map(endpoints, services);
        MaintenanceService.Map(endpoints, services);
        Lease.LeaseGatewayService.Map(endpoints, services);
        Auth.AuthGateway.Map(endpoints, services);
        StatusEndpoints.Map(endpoints, services);
        HealthChecks.Map(endpoints, services);
        Watch.WatchGateway.Map(endpoints, services);
        return endpoints;
    }
}
