using System.Net;

namespace Raft.Shell.Transport;

/// <summary>
/// A peer URL as etcd's flags spell it (<c>http://127.0.0.1:2380</c>); our transport is TCP, so only
/// the host and port matter and <c>tcp://</c> is accepted too. <c>https://</c> names a TLS peer; the
/// transport checks that peer TLS is configured for it (<see cref="PeerTransportOptions.Validate"/>).
/// </summary>
internal static class PeerUrl
{
    /// <summary>The endpoint a URL names: an <see cref="IPEndPoint"/> for an IP literal, else a <see cref="DnsEndPoint"/>.</summary>
    /// <exception cref="FormatException">Not an http:// or tcp:// URL with a host and a port.</exception>
    public static EndPoint Parse(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!Uri.TryCreate(url.Trim(), UriKind.Absolute, out var uri))
            throw new FormatException($"peer URL '{url}' is not a URL (expected http://host:port)");
        if (uri.Scheme is not ("http" or "https" or "tcp"))
            throw new FormatException($"peer URL {url} has scheme {uri.Scheme}; only http://, https:// and tcp:// are supported");
        if (uri.IsDefaultPort && !HasExplicitPort(url))
            throw new FormatException($"peer URL {url} has no port");
        // Uri gives -1 for a scheme without a default port written with an empty one ("tcp://[::1]:").
        if (uri.Port is < 0 or > IPEndPoint.MaxPort)
            throw new FormatException($"peer URL {url} has no valid port");
        if (uri.AbsolutePath is not ("/" or "") || uri.Query.Length > 0)
            throw new FormatException($"peer URL {url} must not have a path or query");
        var host = uri.Host;
        if (host.Length == 0) throw new FormatException($"peer URL {url} has no host");
        return IPAddress.TryParse(host.Trim('[', ']'), out var ip)
            ? new IPEndPoint(ip, uri.Port)
            : new DnsEndPoint(host, uri.Port);
    }

    /// <summary>
    /// An endpoint a listener can bind: IP literals as they are, <c>localhost</c> as the IPv4 loopback.
    /// </summary>
    /// <exception cref="FormatException">The URL is malformed or names a host other than localhost.</exception>
    public static IPEndPoint ParseListen(string url) => Parse(url) switch
    {
        IPEndPoint ip => ip,
        DnsEndPoint { Host: var h, Port: var p } when string.Equals(h, "localhost", StringComparison.OrdinalIgnoreCase) =>
            new IPEndPoint(IPAddress.Loopback, p),
        DnsEndPoint d => throw new FormatException($"listen URL host {d.Host} must be an IP address or localhost"),
        var other => throw new FormatException($"unexpected endpoint {other}"),
    };

    // Uri reports port 80 for "http://host" and "http://host:80" alike; tell them apart.
    private static bool HasExplicitPort(string url)
    {
        var rest = url[(url.IndexOf("://", StringComparison.Ordinal) + 3)..];
        var slash = rest.IndexOf('/');
        var authority = slash < 0 ? rest : rest[..slash];
        var bracket = authority.LastIndexOf(']');
        return authority.IndexOf(':', bracket + 1) >= 0;
    }
}
