using Microsoft.Extensions.Logging;

namespace Raft.Shell.Transport.Tls;

/// <summary>How the peer transport turns its <see cref="TlsOptions"/> into handshakes.</summary>
internal static class PeerTls
{
    /// <summary>The handshake of enabled settings (null for none); the auto-TLS certificate is for the listen URLs' hosts.</summary>
    /// <exception cref="TlsFileException">A file cannot be used.</exception>
    public static TlsHandshake? Create(TlsOptions? options, IEnumerable<string> listenUrls, ILogger log)
    {
        if (options is not { IsEnabled: true }) return null;
        var material = new TlsMaterial(options, Hosts(listenUrls)) { ReloadFailed = e => log.TlsReloadFailed(e) };
        return new TlsHandshake(material);
    }

    /// <summary>The hosts of URLs (for a self-signed certificate), skipping malformed ones.</summary>
    public static IEnumerable<string> Hosts(IEnumerable<string> urls)
    {
        foreach (var url in urls)
        {
            if (Uri.TryCreate(url.Trim(), UriKind.Absolute, out var uri) && uri.Host.Length > 0)
                yield return uri.Host.Trim('[', ']');
        }
    }

    /// <summary>Whether a URL asks for TLS.</summary>
    public static bool IsTlsUrl(string url) => url.TrimStart().StartsWith("https://", StringComparison.OrdinalIgnoreCase);
}
