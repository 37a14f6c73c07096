namespace Raft.Kv.Watch;

/// <summary>
/// The watch streams and watchers of one client connection, for <see cref="WatchOptions.MaxWatchesPerConnection"/>.
/// Guarded by the hub's lock; forgotten when the connection's last stream closes.
/// </summary>
internal sealed class ConnectionWatches(string id)
{
    public string Id { get; } = id;

    public int Streams { get; set; }

    public int Watchers { get; set; }
}
