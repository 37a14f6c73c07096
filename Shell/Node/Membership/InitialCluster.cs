namespace Raft.Shell.Node.Membership;

/// <summary>
/// The <c>--initial-cluster</c> value: member names to peer URLs (etcd's types.URLsMap). A name may
/// appear several times to give a member several URLs.
/// </summary>
public sealed class InitialCluster
{
    private InitialCluster(IReadOnlyDictionary<string, IReadOnlyList<string>> members) => Members = members;

    /// <summary>Each member's name and its sorted peer URLs, in name order.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Members { get; }

    /// <summary>
    /// Parses <c>name=url,name=url,...</c>. Returns null with an error message on a malformed pair,
    /// an invalid URL, or a URL used twice.
    /// </summary>
    public static InitialCluster? TryParse(string text, out string? error)
    {
        var byName = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var pair in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0 || eq == pair.Length - 1)
            {
                error = $"invalid initial cluster entry \"{pair}\": want name=url";
                return null;
            }
            var name = pair[..eq].Trim();
            var url = pair[(eq + 1)..].Trim();
            if (!byName.TryGetValue(name, out var list))
                byName[name] = list = [];
            list.Add(url);
        }
        if (byName.Count == 0)
        {
            error = "initial cluster is empty";
            return null;
        }
        var members = new SortedDictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, urls) in byName)
        {
            var parsed = PeerUrls.TryParse(urls, out error);
            if (parsed is null)
                return null;
            foreach (var u in parsed)
            {
                if (!seen.Add(u))
                {
                    error = $"initial cluster has duplicate url {u}";
                    return null;
                }
            }
            members[name] = parsed;
        }
        error = null;
        return new InitialCluster(members);
    }

    /// <summary>The etcd text form: <c>name=url</c> pairs sorted, joined by commas.</summary>
    public override string ToString() =>
        string.Join(",", Members.SelectMany(kv => kv.Value.Select(u => $"{kv.Key}={u}")).Order(StringComparer.Ordinal));
}
