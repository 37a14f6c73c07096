using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Raft.Kv.Hosting;

/// <summary>
/// etcd's client port on Kestrel: one port that serves gRPC over cleartext HTTP/2 (as etcdctl and
/// etcd's client libraries speak it, with prior knowledge) and the JSON gateway over HTTP/1.1.
/// </summary>
/// <remarks>
/// Kestrel alone cannot do this: an endpoint with <see cref="HttpProtocols.Http1AndHttp2"/> and no TLS
/// has no ALPN to choose by, and Kestrel then speaks HTTP/1.1 only (a client that opens with HTTP/2's
/// preface gets its connection closed; tried with <c>curl --http2-prior-knowledge</c> and etcdctl 3.4).
/// etcd's own server looks at the first bytes instead (cmux). So does this: the public endpoint is
/// HTTP/1.1, and its first connection middleware, <see cref="PrefaceRouter"/>, peeks at the first 24
/// bytes; a connection that opens with HTTP/2's client preface (<c>PRI * HTTP/2.0</c>) is handed to the
/// connection pipeline of a second, HTTP/2-only endpoint that has no socket of its own
/// (<see cref="Http2HandoffEndPoint"/>). Both pipelines are Kestrel's own, so both protocols keep
/// Kestrel's limits, timeouts and metrics.
/// </remarks>
public static class ClientPortWebHostExtensions
{
    /// <summary>
    /// Listens on <paramref name="clientUrls"/> (etcd's <c>--listen-client-urls</c>: <c>http://</c> URLs
    /// with an IP address, <c>localhost</c>, or another host name for every address), each serving
    /// HTTP/1.1 and cleartext HTTP/2 on its one port. Replaces any <c>UseUrls</c> addresses.
    /// </summary>
    /// <exception cref="ArgumentException">A URL is not an absolute <c>http://</c> URL with a port.</exception>
    public static IWebHostBuilder UseEtcdClientUrls(this IWebHostBuilder builder, IEnumerable<string> clientUrls)
    {
        var endPoints = clientUrls.Select(EndPointOf).ToList();
        builder.ConfigureServices(services =>
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionListenerFactory, Http2HandoffListenerFactory>()));
        builder.ConfigureKestrel(kestrel =>
        {
            ClientPortLimits.Apply(kestrel);
            foreach (var endPoint in endPoints)
                kestrel.ListenClientPort(endPoint);
        });
        return builder;
    }

    /// <summary>
    /// One client port: HTTP/1.1 and cleartext HTTP/2 on <paramref name="endPoint"/>. The host must have
    /// called <see cref="UseEtcdClientUrls"/> or registered <see cref="Http2HandoffListenerFactory"/>
    /// as an <see cref="IConnectionListenerFactory"/>.
    /// </summary>
    public static void ListenClientPort(this KestrelServerOptions kestrel, IPEndPoint endPoint)
    {
        var handoff = new Http2HandoffEndPoint(endPoint);
        // Kestrel binds its endpoints in the order they are configured: the HTTP/2 pipeline exists
        // before the public port accepts its first connection. Kestrel appends its HTTP middleware
        // after these, so the `next` seen here is that middleware, built for HTTP/2 only.
        kestrel.Listen(handoff, o =>
        {
            o.Protocols = HttpProtocols.Http2;
            o.Use(next => handoff.Pipeline = next);
        });
        kestrel.Listen(endPoint, o =>
        {
            o.Protocols = HttpProtocols.Http1;
            ClientPortLimits.LimitConnections(o);
            // Read when the pipeline is built, after every ConfigureKestrel has run.
            o.Use(next => new PrefaceRouter(next, handoff, kestrel.Limits.RequestHeadersTimeout).OnConnectionAsync);
        });
    }

    private static IPEndPoint EndPointOf(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp)
            throw new ArgumentException($"client URL {url} is not an http:// URL (TLS is not served)", nameof(url));
        IPAddress address;
        if (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip)) address = ip;
        else if (uri.IsLoopback) address = IPAddress.Loopback;
        // A host name that is not an address: every address, as Kestrel's UseUrls does.
        else address = IPAddress.Any;
        return new IPEndPoint(address, uri.Port);
    }
}
