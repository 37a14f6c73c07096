using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Raft.Kv.Hosting;

/// <summary>
/// The client port's limits from <see cref="KvServiceOptions"/> on Kestrel: HTTP/2 streams per
/// connection (etcd's <c>--max-concurrent-streams</c>), the request header timeout, and connections
/// per port. Kestrel's other defaults stay: 32 KiB of request headers, 130 s keep-alive, and an
/// HTTP/1.1 body slower than 240 bytes/s after 5 s is cut (gRPC streams are exempt).
/// </summary>
public static class ClientPortLimits
{
    /// <summary>
    /// The options in force: those registered with <c>AddKvService</c>, or the defaults when the host
    /// registered none.
    /// </summary>
    internal static KvServiceOptions Of(KestrelServerOptions kestrel) =>
        kestrel.ApplicationServices?.GetService<IOptions<KvServiceOptions>>()?.Value ?? new KvServiceOptions();

    /// <summary>Sets Kestrel's server-wide limits from the key-value service's options.</summary>
    public static void Apply(KestrelServerOptions kestrel)
    {
        ArgumentNullException.ThrowIfNull(kestrel);
        var o = Of(kestrel);
        if (o.MaxConcurrentStreams < 1)
            throw new ArgumentException($"max-concurrent-streams must be at least 1 (got {o.MaxConcurrentStreams})");
        if (o.RequestHeaderTimeout <= TimeSpan.Zero)
            throw new ArgumentException($"request-header-timeout must be positive (got {o.RequestHeaderTimeout})");
        if (o.MaxClientConnections < 0)
            throw new ArgumentException($"max-client-connections must not be negative (got {o.MaxClientConnections})");
        kestrel.Limits.Http2.MaxStreamsPerConnection = o.MaxConcurrentStreams;
        kestrel.Limits.RequestHeadersTimeout = o.RequestHeaderTimeout;
    }

    /// <summary>
    /// Adds the per-port connection limit as the endpoint's first connection middleware (a no-op when
    /// <see cref="KvServiceOptions.MaxClientConnections"/> is 0).
    /// </summary>
    public static void LimitConnections(ListenOptions listen)
    {
        ArgumentNullException.ThrowIfNull(listen);
        var kestrel = listen.KestrelServerOptions;
        var max = Of(kestrel).MaxClientConnections;
        if (max <= 0) return;
        var logger = kestrel.ApplicationServices?.GetService<ILoggerFactory>()?.CreateLogger("Raft.Kv.ClientPort") ?? NullLogger.Instance;
        listen.Use(next => new ClientConnectionLimit(next, max, logger).OnConnectionAsync);
    }
}
