namespace Raft.Kv.Http;

/// <summary>
/// etcd's check of member URLs (client/pkg/types.NewURLs): at least one; http or https with an explicit
/// host:port and no path, or unix/unixs. Returns the trimmed URLs sorted, as etcd stores them.
/// </summary>
internal static class PeerUrlCheck
{
    public static IReadOnlyList<string>? Normalize(IReadOnlyList<string> urls)
    {
        if (urls.Count == 0) return null;
        var result = new List<string>(urls.Count);
        foreach (var raw in urls)
        {
            var url = raw.Trim();
            if (!Valid(url)) return null;
            result.Add(url);
        }
        result.Sort(StringComparer.Ordinal);
        return result;
    }

    private static bool Valid(string url)
    {
        var schemeEnd = url.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd <= 0) return false;
        var scheme = url[..schemeEnd];
        if (scheme is "unix" or "unixs") return true;
        if (scheme is not ("http" or "https")) return false;
        if (!Uri.TryCreate(url, UriKind.Absolute, out _)) return false;
        var rest = url[(schemeEnd + 3)..];
        var authorityEnd = rest.IndexOfAny(['/', '?', '#']);
        var authority = authorityEnd < 0 ? rest : rest[..authorityEnd];
        var path = authorityEnd < 0 ? "" : rest[authorityEnd..];
        if (path.Length > 0 && path[0] == '/') return false; // "URL must not contain a path"
        var at = authority.LastIndexOf('@');
        var hostPort = at < 0 ? authority : authority[(at + 1)..];
        // net.SplitHostPort: "host:port" or "[v6]:port".
        if (hostPort.StartsWith('['))
        {
            var close = hostPort.IndexOf(']');
            return close > 0 && close + 1 < hostPort.Length && hostPort[close + 1] == ':' && hostPort.IndexOf(':', close + 2) < 0;
        }
        var colon = hostPort.IndexOf(':');
        return colon >= 0 && hostPort.IndexOf(':', colon + 1) < 0;
    }
}
