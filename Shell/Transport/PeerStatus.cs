using Microsoft.Extensions.Logging;

namespace Raft.Shell.Transport;

/// <summary>
/// Whether a peer is reachable, and since when (etcd's peerStatus): the first failure after a
/// success logs a warning, further failures only at debug level, so a peer that stays down does not
/// flood the log.
/// </summary>
internal sealed class PeerStatus(TransportContext ctx, ulong peerId)
{
    private readonly Lock gate = new();
    private readonly string peer = TransportLog.Id(peerId);
    private bool active;
    private DateTimeOffset? since;

    public bool IsActive
    {
        get { lock (gate) return active; }
    }

    /// <summary>When the peer last became reachable; null while it is not.</summary>
    public DateTimeOffset? ActiveSince
    {
        get { lock (gate) return since; }
    }

    public void Activate()
    {
        lock (gate)
        {
            if (active) return;
            active = true;
            since = DateTimeOffset.UtcNow;
        }
        ctx.Log.PeerActive(peer);
        ctx.Metrics.ActivePeers.Add(1, new("Local", ctx.LocalId), new("Remote", peer));
    }

    /// <summary>Records a failure of <paramref name="action"/> on <paramref name="source"/> (etcd's failureType).</summary>
    public void Deactivate(string source, string action, string reason)
    {
        bool was;
        lock (gate)
        {
            was = active;
            active = false;
            since = null;
        }
        var error = $"failed to {action} {peer} on {source} ({reason})";
        if (was)
        {
            ctx.Log.PeerInactive(peer, error);
            ctx.Metrics.ActivePeers.Add(-1, new("Local", ctx.LocalId), new("Remote", peer));
            ctx.Metrics.DisconnectedPeers.Add(1, new("Local", ctx.LocalId), new("Remote", peer));
        }
        else
        {
            ctx.Log.PeerInactiveAgain(peer, error);
        }
    }
}
