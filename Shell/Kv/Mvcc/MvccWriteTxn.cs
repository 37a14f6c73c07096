using Raft.Kv.Backend;

namespace Raft.Kv.Mvcc;

/// <summary>
/// A write transaction (etcd's TxnWrite): its puts and deletes share main revision
/// <see cref="Revision"/> + 1, each with the next sub-revision; its ranges see its own changes. The
/// store's revision advances at <see cref="End"/> only if something changed.
/// </summary>
public sealed class MvccWriteTxn : IMvccRead, IDisposable
{
    private readonly MvccStore _store;
    private readonly ulong _consistentIndex;
    private readonly PendingPairs _pending;
    private readonly RevisionReader _reader;
    private readonly List<MvccEvent> _changes = new(4);
    private bool _ended;

    internal MvccWriteTxn(MvccStore store, long revision, ulong consistentIndex, PendingPairs pending, IKvBackendReader backend)
    {
        _store = store;
        Revision = revision;
        _consistentIndex = consistentIndex;
        _pending = pending;
        _reader = new RevisionReader(store, pending, backend);
    }

    /// <summary>The store revision when the transaction began.</summary>
    public long Revision { get; }

    /// <summary>The changes so far, in sub-revision order.</summary>
    public IReadOnlyList<MvccEvent> Changes => _changes;

    private long ReadRevision => _changes.Count > 0 ? Revision + 1 : Revision;

    /// <inheritdoc />
    /// <remarks>Reads at the transaction's own revision once it has changed something, so it sees its changes.</remarks>
    public RangeResult Range(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> end, RangeOptions options = default)
    {
        ThrowIfEnded();
        return _reader.Range(key, end, options, ReadRevision, ReadRevision);
    }

    /// <summary>
    /// Stores <paramref name="value"/> under <paramref name="key"/> (etcd's storeTxnWrite.put): an alive
    /// key keeps its create revision and gains a version, a new one starts at version 1. Returns the
    /// transaction's revision. The memory is kept, not copied.
    /// </summary>
    public long Put(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> value, long lease = 0)
    {
        ThrowIfEnded();
        if (key.IsEmpty) throw new ArgumentException("a key must not be empty", nameof(key));
        var main = Revision + 1;
        var rev = new Revision(main, _changes.Count);
        var created = main;
        long version = 1;
        if (_store.Index.Get(key.Span, main, out _, out var c, out var v))
        {
            created = c.Main;
            version = v + 1;
        }
        else
        {
            _store.AddKeys(1);
        }
        var kv = new KeyValue(key, created, main, version, value, lease);
        _store.WriteChange(rev, false, MvccStore.Encode(kv), _pending);
        _store.Index.Put(key.Span, rev);
        _changes.Add(new MvccEvent(MvccEventType.Put, kv));
        return main;
    }

    /// <summary>
    /// Deletes the keys of a range alive now (etcd's storeTxnWrite.DeleteRange): each gets a tombstone
    /// that ends its generation. Returns how many were deleted and the revision after the delete
    /// (unchanged when nothing was deleted and nothing changed before in this transaction).
    /// </summary>
    public (long Deleted, long Revision) DeleteRange(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> end = default)
    {
        ThrowIfEnded();
        var keys = new List<byte[]>();
        _store.Index.Visit(new KeyRange(key, end), ReadRevision, (entry, _) =>
        {
            keys.Add(KeyHistory.KeyOf(entry).ToArray());
            return true;
        });
        var main = Revision + 1;
        foreach (var k in keys)
        {
            var rev = new Revision(main, _changes.Count);
            var tombstone = new KeyValue(k, 0, 0, 0, default);
            _store.WriteChange(rev, true, MvccStore.Encode(tombstone), _pending);
            if (!_store.Index.Tombstone(k, rev))
                throw new InvalidOperationException("a key found alive could not be deleted (broken invariant)");
            _store.AddKeys(-1);
            _changes.Add(new MvccEvent(MvccEventType.Delete, new KeyValue(k, 0, main, 0, default)));
        }
        return keys.Count > 0 || _changes.Count > 0 ? (keys.Count, main) : (0, Revision);
    }

    /// <summary>Ends the transaction: the store moves to <see cref="Revision"/> + 1 if anything changed.</summary>
    public void End()
    {
        if (_ended) return;
        _ended = true;
        _reader.Dispose();
        _store.EndWrite(_consistentIndex, Revision + 1, _changes);
    }

    /// <inheritdoc />
    /// <remarks>Ends the transaction (see <see cref="End"/>).</remarks>
    public void Dispose() => End();

    private void ThrowIfEnded() => ObjectDisposedException.ThrowIf(_ended, this);
}
