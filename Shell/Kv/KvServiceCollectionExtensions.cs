using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Grpc.AspNetCore.Server;
using Raft.Interop;
using Raft.Kv.Http;
using Raft.Kv.Metrics;

namespace Raft.Kv;

/// <summary>Registers the key-value service's parts.</summary>
public static class KvServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="KvStateMachine"/> (also as the node's <see cref="IStateMachine"/>),
    /// <see cref="KvMetrics"/>, a <see cref="PrometheusExporter"/> for the meters named in
    /// <see cref="KvServiceOptions.MetricsMeterNames"/> that this container's <see cref="IMeterFactory"/>
    /// created, <see cref="KvServiceOptions"/>, the lease expiry service, the auto compaction service (idle unless
    /// <see cref="KvServiceOptions.AutoCompactionRetention"/> is set), and ASP.NET Core's gRPC server
    /// with etcd's receive limit. Map the JSON gateway with <c>app.MapEtcdJsonApi()</c> and the gRPC
    /// services with <c>app.MapEtcdGrpcApi()</c>; the host registers the <see cref="IRaftNode"/>.
    /// </summary>
    public static IServiceCollection AddKvService(this IServiceCollection services, Action<KvServiceOptions>? configure = null)
    {
        var options = services.AddOptions<KvServiceOptions>();
        if (configure is not null) options.Configure(configure);
        services.TryAddSingleton(sp => new KvMetrics(sp.GetService<IMeterFactory>()));
        services.TryAddSingleton(sp => new KvStateMachine(
            sp.GetRequiredService<KvMetrics>(), sp.GetRequiredService<IOptions<KvServiceOptions>>().Value.OpenBackend?.Invoke()));
        services.TryAddSingleton<IStateMachine>(sp => sp.GetRequiredService<KvStateMachine>());
        // Idle unless a retention is configured.
        services.AddHostedService(sp => new Compaction.AutoCompactionService(
            sp, sp.GetRequiredService<IOptions<KvServiceOptions>>(),
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<Compaction.AutoCompactionService>>(), sp.GetService<TimeProvider>()));
        // Promotes the lessor on leadership and proposes revokes of expired leases.
        services.AddHostedService(sp => new Lease.LeaseExpiryService(
            sp, sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<Lease.LeaseExpiryService>>(), sp.GetService<TimeProvider>()));
        // Scoped to this container's meter factory: with several members in one process, each
        // member's /metrics shows its own meters only.
        services.TryAddSingleton(sp =>
        {
            var names = sp.GetRequiredService<IOptions<KvServiceOptions>>().Value.MetricsMeterNames;
            return sp.GetService<IMeterFactory>() is { } scope ? new PrometheusExporter(names, scope) : new PrometheusExporter(names);
        });
        // etcd's gRPC receive limit: --max-request-bytes plus its allowance for the envelope.
        services.AddGrpc();
        services.AddOptions<GrpcServiceOptions>().Configure<IOptions<KvServiceOptions>>((grpc, kv) =>
            grpc.MaxReceiveMessageSize = kv.Value.MaxRequestBytes + GatewayContext.GrpcOverheadBytes);
        return services;
    }
}
