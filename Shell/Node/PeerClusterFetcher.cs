using Raft.Shell.Node.Membership;
using Raft.Shell.Transport;
using Raft.Shell.Transport.Tls;

using Raft.Shell.Node.Advanced;

namespace Raft.Shell.Node;

/// <summary>
/// etcd's GetClusterFromRemotePeers over our peer protocol: asks each peer URL in turn for its
/// membership and takes the first answer.
/// </summary>
internal static class PeerClusterFetcher
{
    /// <summary>A <see cref="ClusterFetcher"/> that gives each peer <paramref name="timeout"/> to answer (1 s by default), over peer TLS for https:// URLs.</summary>
    public static ClusterFetcher Create(TimeSpan? timeout = null, TlsOptions? tls = null) =>
        async (urls, ct) =>
        {
            var errors = new List<string>();
            var handshake = tls is { IsEnabled: true } ? new TlsHandshake(new TlsMaterial(tls, [])) : null;
            foreach (var url in urls)
            {
                try
                {
                    var json = await MembersRequest.FetchAsync(url, timeout ?? TimeSpan.FromSeconds(1), handshake, ct).ConfigureAwait(false);
                    var view = MembershipJson.Read(json);
                    if (view.Members.Count == 0)
                    {
                        errors.Add($"{url}: no members applied yet");
                        continue;
                    }
                    return new RemoteCluster(view.ClusterId, view.Members.Values.ToArray());
                }
                catch (Exception ex) when (ex is IOException or FormatException or System.Text.Json.JsonException or KeyNotFoundException)
                {
                    errors.Add(ex.Message);
                }
            }
            throw new IOException("could not retrieve cluster information from the given URLs: " + string.Join("; ", errors));
        };
}
