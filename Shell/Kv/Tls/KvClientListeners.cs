using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Raft.Kv.Hosting;
using Raft.Shell.Transport.Tls;

namespace Raft.Kv.Tls;

/// <summary>
/// Binds the client URLs on Kestrel as etcd does: <c>http://</c> in clear, <c>https://</c> with the
/// client TLS settings. Each port serves HTTP/1.1 and HTTP/2 (the JSON gateway and gRPC): in clear
/// chosen by the connection's first bytes (<see cref="ClientPortWebHostExtensions.ListenClientPort"/>),
/// under TLS by ALPN. The certificate, trusted CAs and CRL are taken afresh for every handshake, so
/// files rotated on disk take effect without a restart.
/// </summary>
public static class KvClientListeners
{
    /// <summary>
    /// Listens on every URL of <paramref name="listenClientUrls"/> (comma-separated; hosts are IP
    /// literals or <c>localhost</c>). https:// URLs need <paramref name="tls"/> enabled.
    /// </summary>
    /// <param name="builder">The web host.</param>
    /// <param name="listenClientUrls">etcd's <c>--listen-client-urls</c>.</param>
    /// <param name="tls">Client TLS (etcd's <c>--cert-file</c> etc.); validated by the caller (see <see cref="TlsOptions.Validate"/>).</param>
    /// <exception cref="ArgumentException">A URL is malformed, or https without a certificate.</exception>
    public static IWebHostBuilder UseKvClientUrls(this IWebHostBuilder builder, string listenClientUrls, TlsOptions tls)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(tls);
        var urls = ParseUrls(listenClientUrls);
        if (urls.Any(u => u.Https) && !tls.IsEnabled)
            throw new ArgumentException("an https:// client URL needs a client certificate (cert and key files, or auto TLS)", nameof(tls));
        TlsMaterial? material = null;
        // Clear-text URLs: one port for HTTP/1.1 and HTTP/2 by the first bytes (etcd's cmux).
        if (urls.Any(u => !u.Https))
            builder.ConfigureServices(services =>
                services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionListenerFactory, Http2HandoffListenerFactory>()));
        return builder.ConfigureKestrel(kestrel =>
        {
            var log = kestrel.ApplicationServices.GetService<ILoggerFactory>()?.CreateLogger("Raft.Kv.Tls") ?? NullLogger.Instance;
            ClientPortLimits.Apply(kestrel);
            foreach (var (https, address, localhost, port) in urls)
            {
                if (!https)
                {
                    kestrel.ListenClientPort(new IPEndPoint(address, port));
                    continue;
                }
                void Configure(ListenOptions listen)
                {
                    material ??= new TlsMaterial(tls, urls.Select(u => u.Localhost ? "localhost" : u.Address.ToString()))
                    {
                        ReloadFailed = e => log.LogWarning("cannot reload client TLS files; keeping the previous ones (error={Error})", e),
                    };
                    var m = material;
                    listen.Protocols = HttpProtocols.Http1AndHttp2;
                    // Before the handshake: a connection past the limit costs no TLS work.
                    ClientPortLimits.LimitConnections(listen);
                    listen.UseHttps(new TlsHandshakeCallbackOptions
                    {
                        HandshakeTimeout = TimeSpan.FromSeconds(10),
                        OnConnection = context => ValueTask.FromResult(ServerOptions(m, context.Connection.RemoteEndPoint?.ToString() ?? "unknown", log)),
                    });
                }
                if (localhost) kestrel.ListenLocalhost(port, Configure);
                else kestrel.Listen(address, port, Configure);
            }
        });
    }

    private static SslServerAuthenticationOptions ServerOptions(TlsMaterial material, string remote, ILogger log)
    {
        var o = material.Options;
        return new SslServerAuthenticationOptions
        {
            ServerCertificateContext = material.Context,
            ClientCertificateRequired = o.ClientCertAuth,
            EnabledSslProtocols = o.Protocols,
            CipherSuitesPolicy = o.CipherPolicy,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            // ALPN: gRPC needs h2; curl and browsers may speak either.
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
            RemoteCertificateValidationCallback = (_, cert, chain, errors) =>
            {
                // Without --client-cert-auth no certificate is asked for (etcd's NoClientCert); one sent anyway is still checked.
                var refused = RemoteCertificateCheck.Check(material, cert, chain, o.ClientCertAuth,
                    errors & ~SslPolicyErrors.RemoteCertificateNotAvailable & ~SslPolicyErrors.RemoteCertificateNameMismatch);
                if (refused is not null)
                    log.LogWarning("rejected connection (remote-addr={RemoteAddress}, error={Error})", remote, refused);
                return refused is null;
            },
        };
    }

    /// <summary>The URLs of <c>--listen-client-urls</c>; <see cref="ArgumentException"/> for one that is not usable.</summary>
    internal static List<(bool Https, IPAddress Address, bool Localhost, int Port)> ParseUrls(string listenClientUrls) =>
        listenClientUrls.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Parse).ToList();

    private static (bool Https, IPAddress Address, bool Localhost, int Port) Parse(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new ArgumentException($"client URL {url} is not an http:// or https:// URL");
        var https = uri.Scheme == "https";
        var host = uri.Host.Trim('[', ']');
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)) return (https, IPAddress.Loopback, true, uri.Port);
        if (!IPAddress.TryParse(host, out var ip))
            throw new ArgumentException($"client URL {url}: the host must be an IP address or localhost");
        return (https, ip, false, uri.Port);
    }
}
