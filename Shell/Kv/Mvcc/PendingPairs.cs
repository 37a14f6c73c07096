using System.Collections.Concurrent;

namespace Raft.Kv.Mvcc;

/// <summary>
/// The store's buffer of pairs not yet in a committed backend batch (etcd's read buffer): the open
/// batch's pairs, and while a full batch commits outside the batch lock, that batch's pairs too.
/// Readers take one instance and then open their backend view: pairs of a batch are in the instance
/// they took, or committed before they took a newer one.
/// </summary>
/// <param name="Open">The open batch's pairs; write transactions add to it.</param>
/// <param name="Committing">The pairs of the batch being committed; null when none is.</param>
internal sealed record PendingPairs(ConcurrentDictionary<Revision, byte[]> Open, ConcurrentDictionary<Revision, byte[]>? Committing)
{
    /// <summary>An empty buffer.</summary>
    public static PendingPairs Empty() => new(new ConcurrentDictionary<Revision, byte[]>(), null);

    /// <summary>The pair at <paramref name="rev"/> if it is not committed yet.</summary>
    public bool TryGetValue(Revision rev, out byte[] value) =>
        Open.TryGetValue(rev, out value!) || (Committing is { } c && c.TryGetValue(rev, out value!));
}
