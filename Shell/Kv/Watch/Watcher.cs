using Raft.Kv.Mvcc;

namespace Raft.Kv.Watch;

/// <summary>What a client asks to watch (etcd's WatchCreateRequest).</summary>
/// <param name="Key">The key, or the start of the range.</param>
/// <param name="RangeEnd">Empty for the key alone, one zero byte for every key &gt;= key, else the end (exclusive).</param>
/// <param name="StartRevision">The first revision to send (0 or less: the next one).</param>
/// <param name="WatchId">The id the client chose, or -1 (etcd's AutoWatchID, 0 on the wire) to get the next free one.</param>
/// <param name="ProgressNotify">Send an empty response every progress interval while nothing happens.</param>
/// <param name="NoPut">Leave puts out.</param>
/// <param name="NoDelete">Leave deletes out.</param>
/// <param name="PrevKv">Send each event with the pair as it was before.</param>
/// <param name="Fragment">Split responses larger than the request limit.</param>
public sealed record WatchSpec(
    ReadOnlyMemory<byte> Key, ReadOnlyMemory<byte> RangeEnd, long StartRevision, long WatchId = -1,
    bool ProgressNotify = false, bool NoPut = false, bool NoDelete = false, bool PrevKv = false, bool Fragment = false);

/// <summary>One watcher of a <see cref="WatchStream"/>; its state belongs to the hub (guarded by the hub's lock).</summary>
public sealed class Watcher
{
    private readonly KeyRange _range;

    internal Watcher(WatchStream stream, long id, WatchSpec spec, long nextRevision)
    {
        Stream = stream;
        Id = id;
        Spec = spec;
        _range = new KeyRange(spec.Key, spec.RangeEnd);
        NextRevision = nextRevision;
    }

    /// <summary>The stream it sends on.</summary>
    public WatchStream Stream { get; }

    /// <summary>The watch id.</summary>
    public long Id { get; }

    /// <summary>What was asked.</summary>
    public WatchSpec Spec { get; }

    /// <summary>The first revision not yet queued for it.</summary>
    internal long NextRevision { get; set; }

    /// <summary>Whether it takes events from the apply path (else it catches up from history).</summary>
    internal bool Synced { get; set; }

    internal bool Canceled { get; set; }

    internal bool IsSingleKey => _range.IsSingleKey;

    internal bool Contains(ReadOnlySpan<byte> key) => _range.Contains(key);

    /// <summary>
    /// The events of <paramref name="changes"/> in its range, or null when none is: <paramref name="changes"/>
    /// itself when all are, so the watchers of one key share one list (and the sender one encoding of it).
    /// </summary>
    internal IReadOnlyList<MvccEvent>? SelectShared(IReadOnlyList<MvccEvent> changes)
    {
        var all = true;
        foreach (var e in changes)
        {
            if (Contains(e.Kv.Key.Span)) continue;
            all = false;
            break;
        }
        if (all) return changes.Count > 0 ? changes : null;
        return Select(changes, null);
    }

    /// <summary>The events of <paramref name="changes"/> in its range, or null when none is.</summary>
    internal List<MvccEvent>? Select(IReadOnlyList<MvccEvent> changes, List<MvccEvent>? into)
    {
        foreach (var e in changes)
        {
            if (!Contains(e.Kv.Key.Span)) continue;
            (into ??= new List<MvccEvent>(1)).Add(e);
        }
        return into;
    }
}
