namespace Raft.Shell.Node.Membership;

/// <summary>
/// etcd's URL rules for member addresses (client/pkg/types.NewURLs): each URL has a scheme, a
/// host:port and no path; a list is trimmed and sorted so that the same set always gives the same
/// member id.
/// </summary>
public static class PeerUrls
{
    private static readonly string[] Schemes = ["http", "https", "tcp"];

    /// <summary>
    /// Validates and sorts <paramref name="urls"/> (ordinal order, as Go sorts strings). Returns
    /// null and sets <paramref name="error"/> when a URL breaks the rules.
    /// </summary>
    public static IReadOnlyList<string>? TryParse(IEnumerable<string> urls, out string? error)
    {
        var result = new List<string>();
        foreach (var raw in urls)
        {
            var u = raw.Trim();
            if (!TryValidate(u, out error))
                return null;
            result.Add(u);
        }
        if (result.Count == 0)
        {
            error = "no valid URLs given";
            return null;
        }
        result.Sort(StringComparer.Ordinal);
        error = null;
        return result;
    }

    /// <summary>Checks one URL against etcd's rules.</summary>
    public static bool TryValidate(string url, out string? error)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            error = $"invalid URL: {url}";
            return false;
        }
        if (Array.IndexOf(Schemes, uri.Scheme) < 0)
        {
            error = $"URL scheme must be http, https or tcp: {url}";
            return false;
        }
        // Uri fills in a default port for http; etcd insists on an explicit one.
        var afterScheme = url[(uri.Scheme.Length + 3)..];
        var authority = afterScheme.Split('/', 2)[0];
        var colon = authority.LastIndexOf(':');
        if (colon <= 0 || colon == authority.Length - 1 || authority.EndsWith(']'))
        {
            error = $"URL address does not have the form \"host:port\": {url}";
            return false;
        }
        if (uri.AbsolutePath != "/" || url.TrimEnd().EndsWith('/'))
        {
            error = $"URL must not contain a path: {url}";
            return false;
        }
        error = null;
        return true;
    }

    /// <summary>The host and port of a validated URL, for binding or dialling.</summary>
    public static (string Host, int Port) HostPort(string url)
    {
        var uri = new Uri(url);
        var host = uri.Host.Trim('[', ']');
        return (host, uri.Port);
    }
}
