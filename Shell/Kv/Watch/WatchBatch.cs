using Raft.Kv.Mvcc;

namespace Raft.Kv.Watch;

/// <summary>What a watch stream sends next.</summary>
public enum WatchBatchKind
{
    /// <summary>A watcher was created (or refused: <see cref="WatchBatch.CancelReason"/> set).</summary>
    Created,
    /// <summary>Events of one watcher, whole write transactions, in revision order.</summary>
    Events,
    /// <summary>A watcher was cancelled by its client.</summary>
    Canceled,
    /// <summary>A watcher's next revision was compacted away: it is cancelled.</summary>
    Compacted,
    /// <summary>Everything up to <see cref="WatchBatch.Revision"/> was sent (a progress notification).</summary>
    Progress,
}

/// <summary>
/// One response a watch stream sends, in the order the hub queued it.
/// </summary>
/// <param name="Kind">What it says.</param>
/// <param name="Watcher">The watcher it is for (null for a progress answer to the whole stream, watch id -1).</param>
/// <param name="WatchId">The watch id (-1 for the whole stream).</param>
/// <param name="Revision">The header revision: the store's revision the response is current to.</param>
/// <param name="Events">The events (only for <see cref="WatchBatchKind.Events"/>).</param>
/// <param name="CompactRevision">The compaction revision (only for <see cref="WatchBatchKind.Compacted"/>).</param>
/// <param name="CancelReason">Why a create was refused.</param>
public sealed record WatchBatch(
    WatchBatchKind Kind, Watcher? Watcher, long WatchId, long Revision,
    IReadOnlyList<MvccEvent> Events, long CompactRevision = 0, string? CancelReason = null);
