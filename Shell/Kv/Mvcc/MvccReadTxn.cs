using Raft.Kv.Backend;

namespace Raft.Kv.Mvcc;

/// <summary>
/// A read transaction (etcd's TxnRead): every range reads the store as it was when the transaction
/// began, or at an older revision not compacted. Dispose it to release its backend view.
/// </summary>
public sealed class MvccReadTxn : IMvccRead, IDisposable
{
    private readonly RevisionReader _reader;

    internal MvccReadTxn(MvccStore store, long revision, PendingPairs pending, IKvBackendReader backend)
    {
        Revision = revision;
        _reader = new RevisionReader(store, pending, backend);
    }

    /// <inheritdoc />
    public long Revision { get; }

    /// <inheritdoc />
    public RangeResult Range(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> end, RangeOptions options = default) =>
        _reader.Range(key, end, options, Revision, Revision);

    /// <inheritdoc />
    public void Dispose() => _reader.Dispose();
}
