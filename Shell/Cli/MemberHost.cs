using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Raft.Kv;
using Raft.Kv.Dashboard;
using Raft.Kv.Grpc;
using Raft.Kv.Hosting;
using Raft.Kv.Http;
using Raft.Kv.Metrics;
using Raft.Kv.Tls;
using Raft.Shell.Hosting;
using Raft.Shell.Node;

namespace Raft.Cli;

/// <summary>
/// One member of the reference service: a <see cref="RaftNode"/> over the key-value state machine,
/// with etcd's gRPC API and JSON gateway on Kestrel at the client URLs.
/// </summary>
public static class MemberHost
{
    /// <summary>Builds (does not start) the member's web application.</summary>
    /// <param name="options">The member's options (already validated or not: the host validates them at start).</param>
    /// <param name="minLevel">Least severe log level printed.</param>
    /// <param name="logPrefix">Text in front of every log line (the member's name in a local cluster); null for none.</param>
    /// <param name="configureKv">Further key-value options (quota, auto compaction); applied after those the node's options give.</param>
    public static WebApplication Build(RaftNodeOptions options, LogLevel minLevel, string? logPrefix, Action<KvServiceOptions>? configureKv = null)
    {
        // No watching of configuration files for changes: the watcher covers the content root (the
        // working directory) and everything below it, where the data directory usually is, so each
        // WAL write would wake it.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(minLevel);
        builder.Logging.AddProvider(new ConsoleLineLoggerProvider(logPrefix));
        // Per-request lines are noise next to etcd's logs; the hosting lifetime lines stay.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // The host logs a failed start with its stack trace; the command prints the reason of a
        // start that fails for a known cause in one line, and lets anything else surface whole.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
        // One port per client URL serving gRPC (HTTP/2) and the JSON gateway (HTTP/1.1), as etcd's does:
        // in clear by the first bytes, under TLS by ALPN.
        if (options.ClientTls.IsEnabled)
            builder.WebHost.UseKvClientUrls(options.ListenClientUrls, options.ClientTls);
        else
            builder.WebHost.UseEtcdClientUrls(RaftNodeOptions.SplitUrls(options.ListenClientUrls));
        // AddKvService scopes /metrics to this member's meters, even with other members in the process.
        builder.Services.AddKvService(kv =>
        {
            kv.MaxRequestBytes = options.MaxRequestBytes;
            kv.RequestTimeout = options.RequestTimeout;
            // The member's store lives beside its WAL and snap files (etcd: member/snap/db).
            kv.DataDir = options.EffectiveDataDir;
            configureKv?.Invoke(kv);
        });
        builder.Services.AddRaftNode(options);
        if (PlannerOverride.FromEnvironment() is { } planner)
            builder.Services.AddSingleton(planner);
        var app = builder.Build();
        app.MapEtcdJsonApi();
        app.MapRaftDashboard();
        app.MapEtcdGrpcApi();
        if (FailpointEndpoint.Enabled)
            FailpointEndpoint.Map(app);
        return app;
    }
}
