using System.Net;

namespace Raft.Shell.Transport;

/// <summary>
/// A peer's endpoints and the one in use (etcd's urlPicker): the same endpoint is dialled until it
/// fails, then the next one.
/// </summary>
internal sealed class UrlPicker
{
    private readonly Lock gate = new();
    private EndPoint[] endpoints;
    private int picked;

    public UrlPicker(IReadOnlyList<string> urls) => endpoints = Parse(urls);

    public EndPoint Pick()
    {
        lock (gate) return endpoints[picked];
    }

    /// <summary>The endpoint failed: move on, unless another caller already did.</summary>
    public void Unreachable(EndPoint endpoint)
    {
        lock (gate)
        {
            if (Equals(endpoints[picked], endpoint)) picked = (picked + 1) % endpoints.Length;
        }
    }

    public void Update(IReadOnlyList<string> urls)
    {
        var parsed = Parse(urls);
        lock (gate)
        {
            endpoints = parsed;
            picked = 0;
        }
    }

    public static EndPoint[] Parse(IReadOnlyList<string> urls)
    {
        if (urls.Count == 0) throw new ArgumentException("a peer needs at least one URL", nameof(urls));
        return urls.Select(PeerUrl.Parse).ToArray();
    }
}
