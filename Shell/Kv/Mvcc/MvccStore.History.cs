using Raft.Kv.Backend;

namespace Raft.Kv.Mvcc;

public sealed partial class MvccStore
{
    /// <summary>
    /// The changes of main revisions <paramref name="from"/> up to at most <paramref name="maxRevisions"/>
    /// revisions later, in revision order (etcd's watchableStore reads them from the Key bucket for
    /// watchers that catch up), stopping after the revision in which the pairs read reach <paramref name="maxBytes"/>. Commits the open batch first, as <see cref="HashKV"/> does, so the
    /// backend holds every change, tombstones included, up to the revision returned.
    /// </summary>
    /// <returns>The changes, and the newest revision they cover (the current one when the read reached it).</returns>
    /// <remarks>
    /// The compaction revision itself counts as compacted here, although a range can read at it: the
    /// compaction kept only each key's last pair alive at it, so its deletes, and all but the last put
    /// of a key in its transaction, are gone.
    /// </remarks>
    /// <exception cref="MvccException">A revision in the span is compacted away (before or during the read).</exception>
    public (List<MvccChanges> Changes, long UpTo) ReadHistory(long from, int maxRevisions, long maxBytes = long.MaxValue)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        IKvBackendReader reader;
        long current;
        lock (_batchLock)
        {
            CommitLocked();
            current = CurrentRevision;
            if (from <= CompactRevision) throw new MvccException(KvError.Compacted);
            reader = _backend.OpenReader();
        }
        var upTo = Math.Min(current, from + Math.Max(1, maxRevisions) - 1);
        var changes = new List<MvccChanges>();
        using (reader)
        {
            if (from > upTo) return (changes, current);
            var start = new Revision(from, 0).ToKey()[..8];
            var end = new Revision(upTo + 1, 0).ToKey()[..8];
            List<MvccEvent>? events = null;
            long main = 0;
            long bytes = 0;
            foreach (var (key, value) in reader.Scan(KvBucket.Key, start, end))
            {
                var rev = Revision.FromKey(key);
                if (rev.Main != main)
                {
                    if (events is not null) changes.Add(new MvccChanges(main, events));
                    // Whole revisions only: the budget is checked where one ends.
                    if (bytes >= maxBytes)
                    {
                        events = null;
                        upTo = main;
                        break;
                    }
                    events = new List<MvccEvent>(1);
                    main = rev.Main;
                }
                bytes += key.Length + value.Length;
                var kv = Decode(value);
                events!.Add(Revision.IsTombstoneKey(key)
                    ? new MvccEvent(MvccEventType.Delete, new KeyValue(kv.Key, 0, rev.Main, 0, default))
                    : new MvccEvent(MvccEventType.Put, kv));
            }
            if (events is not null) changes.Add(new MvccChanges(main, events));
        }
        // A compaction that passed the start while the backend was read may have removed changes from it.
        if (from <= CompactRevision) throw new MvccException(KvError.Compacted);
        return (changes, upTo);
    }
}
