using Raft.Interop;
using Raft.Kv.Codec;
using Raft.Kv.Mvcc;

namespace Raft.Kv;

/// <summary>
/// The replicated key-value store: applies put and delete-range commands (etcd's InternalRaftRequest
/// encoding, see <see cref="KvCommandCodec"/>) with etcd's revision counting, and serves reads.
/// </summary>
/// <remarks>
/// The state is an immutable <see cref="KvState"/> that Apply replaces with one reference write, so a
/// reader that takes <see cref="Current"/> sees one consistent revision however long it reads, without
/// locks and without holding up the apply loop.
/// </remarks>
public sealed class KvStateMachine : IStateMachine, ISnapshotCapture
{
    private readonly KvMetrics? _metrics;
    private KvState _state = KvState.Initial;

    /// <summary>Creates an empty store (revision 1), counting puts, deletes and ranges on <paramref name="metrics"/> if given.</summary>
    public KvStateMachine(KvMetrics? metrics = null)
    {
        _metrics = metrics;
        metrics?.ObserveStore(() => Current);
    }

    /// <summary>The store as of the last applied command.</summary>
    public KvState Current => Volatile.Read(ref _state);

    /// <summary>
    /// Applies one command. Returns a <see cref="PutResponse"/> or <see cref="DeleteRangeResponse"/>, or a
    /// <see cref="KvError"/> (the store unchanged) for a command that is malformed or invalid: a bad
    /// entry must not stop the apply loop, and every member answers it the same way.
    /// </summary>
    public object? Apply(ulong index, ReadOnlyMemory<byte> command)
    {
        var state = Current;
        switch (KvCommandCodec.Decode(command))
        {
            case PutRequest put:
            {
                if (put.Check() is { } invalid) return invalid;
                var (next, response) = state.Put(put);
                Volatile.Write(ref _state, next);
                _metrics?.Put();
                return response;
            }
            case DeleteRangeRequest delete:
            {
                if (delete.Check() is { } invalid) return invalid;
                var (next, response) = state.DeleteRange(delete);
                Volatile.Write(ref _state, next);
                _metrics?.Delete();
                return response;
            }
            case KvError error:
                return error;
            default:
                throw new InvalidOperationException("KvCommandCodec.Decode returned an unexpected type (broken invariant)");
        }
    }

    /// <summary>Reads a range of the current state (see <see cref="KvState.Range"/>).</summary>
    public object Range(RangeRequest request)
    {
        _metrics?.Range();
        return Current.Range(request);
    }

    /// <inheritdoc />
    public byte[] TakeSnapshot() => KvSnapshotCodec.Encode(Current);

    /// <inheritdoc />
    /// <remarks>The state is immutable: capturing it is one read of <see cref="Current"/>.</remarks>
    public Func<byte[]> CaptureSnapshot()
    {
        var state = Current;
        return () => KvSnapshotCodec.Encode(state);
    }

    /// <inheritdoc />
    /// <exception cref="InvalidDataException">The bytes are not a snapshot of this store.</exception>
    public void Restore(ReadOnlyMemory<byte> snapshot) => Volatile.Write(ref _state, KvSnapshotCodec.Decode(snapshot));
}
