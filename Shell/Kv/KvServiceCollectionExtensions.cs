using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Grpc.AspNetCore.Server;
using Raft.Interop;
using Raft.Kv.Http;
using Raft.Kv.Backend;
using Raft.Kv.Metrics;
using Raft.Kv.Mvcc;
using Raft.Shell.Node;

namespace Raft.Kv;

/// <summary>Registers the key-value service's parts.</summary>
public static class KvServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="KvStateMachine"/> (also as the node's <see cref="IStateMachine"/>),
    /// <see cref="KvMetrics"/>, the <see cref="Watch.WatcherHub"/> (options <see cref="Watch.WatchOptions"/>), a <see cref="PrometheusExporter"/> for the meters named in
    /// <see cref="KvServiceOptions.MetricsMeterNames"/> that this container's <see cref="IMeterFactory"/>
    /// created, <see cref="KvServiceOptions"/> (the store's database: <see cref="KvServiceOptions.OpenBackend"/>,
    /// else <c>member/kv</c> in <see cref="KvServiceOptions.DataDir"/> or the node's
    /// <see cref="RaftNodeOptions.DataDir"/> as a persistent state machine, else memory), the lease expiry service, the auto compaction service (idle unless
    /// <see cref="KvServiceOptions.AutoCompactionRetention"/> is set), and ASP.NET Core's gRPC server
    /// with etcd's receive limit. Map the JSON gateway with <c>app.MapEtcdJsonApi()</c> and the gRPC
    /// services with <c>app.MapEtcdGrpcApi()</c>; the host registers the <see cref="IRaftNode"/>.
    /// </summary>
    public static IServiceCollection AddKvService(this IServiceCollection services, Action<KvServiceOptions>? configure = null)
    {
        var options = services.AddOptions<KvServiceOptions>();
        if (configure is not null) options.Configure(configure);
        services.TryAddSingleton(sp => new KvMetrics(sp.GetService<IMeterFactory>()));
        services.TryAddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<KvServiceOptions>>().Value;
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            var machine = new KvStateMachine(sp.GetRequiredService<KvMetrics>(), OpenBackend(sp),
                new MvccStoreOptions { BatchInterval = o.BackendBatchInterval, BatchLimit = o.BackendBatchLimit }, o.BcryptCost,
                Auth.AuthTokenOptions.Create(o.AuthToken, o.AuthTokenTtl, sp.GetService<TimeProvider>()));
            // Most of a restart with a large store: the figure says where a slow start went.
            sp.GetService<ILoggerFactory>()?.CreateLogger<KvStateMachine>().LogInformation(
                "opened the store: {Keys} keys at revision {Revision}, applied index {Index}, in {Elapsed:F0} ms",
                machine.Store.KeyCount, machine.Store.CurrentRevision, machine.Store.ConsistentIndex,
                System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return machine;
        });
        services.TryAddSingleton<IStateMachine>(sp =>
        {
            var machine = sp.GetRequiredService<KvStateMachine>();
            var dataDir = StoreDataDir(sp);
            var o = sp.GetRequiredService<IOptions<KvServiceOptions>>().Value;
            return dataDir is null ? machine : new PersistentKvStateMachine(machine, KvBackends.MemberStoreDirectory(dataDir),
                o.FileCheckpoints, sp.GetService<ILoggerFactory>()?.CreateLogger<PersistentKvStateMachine>());
        });
        // The watchers of the store's changes (etcd's watchableStore), for the Watch service and /v3/watch;
        // they follow the machine to a store installed from a checkpoint.
        services.AddOptions<Watch.WatchOptions>().Configure<IOptions<KvServiceOptions>>((w, kv) =>
        {
            w.MaxWatchesPerConnection = kv.Value.MaxWatchesPerConnection;
            w.MaxCatchUpBytes = Math.Min(w.MaxCatchUpBytes, Math.Max(1, kv.Value.MaxSendBytes / 4));
        });
        services.TryAddSingleton(sp =>
        {
            var machine = sp.GetRequiredService<KvStateMachine>();
            var hub = new Watch.WatcherHub(machine.Store, sp.GetRequiredService<IOptions<Watch.WatchOptions>>().Value,
                sp.GetService<Microsoft.Extensions.Logging.ILogger<Watch.WatcherHub>>());
            machine.StoreReplaced += hub.Rebind;
            hub.Rebind(machine.Store);
            sp.GetRequiredService<KvMetrics>().ObserveWatchers(hub);
            return hub;
        });
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
        // etcd's gRPC limits: receive --max-request-bytes plus its allowance for the envelope, send 2 GiB - 1.
        services.AddGrpc();
        services.AddOptions<GrpcServiceOptions>().Configure<IOptions<KvServiceOptions>>((grpc, kv) =>
        {
            grpc.MaxReceiveMessageSize = kv.Value.EffectiveMaxRecvBytes;
            grpc.MaxSendMessageSize = kv.Value.MaxSendBytes;
        });
        return services;
    }

    // The host's own backend; else the member's store in its data directory when the host names one
    // (KvBackends.OpenMember); else in memory.
    private static IKvBackend? OpenBackend(IServiceProvider sp)
    {
        if (sp.GetRequiredService<IOptions<KvServiceOptions>>().Value.OpenBackend is { } open) return open();
        return StoreDataDir(sp) is { } dataDir ? KvBackends.OpenMember(dataDir) : null;
    }

    // The data directory whose member/kv holds the store, when the store is the member's own database.
    private static string? StoreDataDir(IServiceProvider sp)
    {
        var kv = sp.GetRequiredService<IOptions<KvServiceOptions>>().Value;
        if (kv.OpenBackend is not null) return null;
        var dataDir = kv.DataDir ?? sp.GetService<IOptions<RaftNodeOptions>>()?.Value.DataDir;
        return string.IsNullOrEmpty(dataDir) ? null : dataDir;
    }
}
