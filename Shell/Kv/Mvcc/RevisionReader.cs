using Raft.Kv.Backend;

namespace Raft.Kv.Mvcc;

/// <summary>
/// Reads pairs by revision for one transaction: from the buffer of uncommitted pairs taken at its
/// start, else from the backend view opened after it, and ranges over the index (etcd's rangeKeys).
/// </summary>
internal sealed class RevisionReader(MvccStore store, PendingPairs pending, IKvBackendReader backend) : IDisposable
{
    private readonly byte[] _key = new byte[Revision.KeyLength];

    /// <summary>
    /// etcd's storeTxnRead.rangeKeys: the pairs of the range alive at <paramref name="options"/>'s
    /// revision (0: <paramref name="current"/>), up to its limit, and the count of all of them.
    /// </summary>
    public RangeResult Range(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> end, RangeOptions options, long current, long reportedRevision)
    {
        var rev = options.Revision;
        var range = new KeyRange(key, end);
        store.EnterRead();
        try
        {
            if (rev > current) throw new MvccException(KvError.FutureRevision);
            if (rev <= 0) rev = current;
            store.CheckReadable(rev, current);
            long total = 0;
            var revisions = new List<Revision>();
            var limit = options.Limit > 0 && !options.Count ? options.Limit : long.MaxValue;
            store.Index.Visit(range, rev, (_, r) =>
            {
                total++;
                if (!options.Count && revisions.Count < limit) revisions.Add(r);
                return true;
            });
            if (options.Count || revisions.Count == 0) return new RangeResult([], total, reportedRevision);
            var kvs = new KeyValue[revisions.Count];
            for (var i = 0; i < kvs.Length; i++) kvs[i] = MvccStore.Decode(Get(revisions[i]));
            return new RangeResult(kvs, total, reportedRevision);
        }
        finally
        {
            store.ExitRead();
        }
    }

    private byte[] Get(Revision rev)
    {
        if (pending.TryGetValue(rev, out var value)) return value;
        rev.WriteKey(_key);
        return backend.Get(KvBucket.Key, _key)
               ?? throw new InvalidOperationException($"the index names revision {rev} but the backend does not hold it (broken invariant)");
    }

    public void Dispose() => backend.Dispose();
}
