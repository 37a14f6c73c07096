using System.Collections.Immutable;

namespace Raft.Kv.Backend;

/// <summary>
/// An <see cref="IKvBackend"/> in memory, without durability, for tests: one immutable sorted
/// dictionary per bucket, so that a reader keeps the committed state it opened (copy-on-write) and a
/// batch replaces the whole set of buckets at once when it commits.
/// </summary>
public sealed class MemoryBackend : IKvBackend
{
    private static readonly IComparer<byte[]> ByteOrder = Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b));

    private static readonly ImmutableSortedDictionary<byte[], byte[]> EmptyBucket =
        ImmutableSortedDictionary.Create<byte[], byte[]>(ByteOrder);

    private readonly object _commitLock = new();
    private ImmutableDictionary<KvBucket, ImmutableSortedDictionary<byte[], byte[]>> _committed =
        ImmutableDictionary<KvBucket, ImmutableSortedDictionary<byte[], byte[]>>.Empty;
    private long _size;
    private bool _disposed;

    /// <summary>How many batches have committed (tests check that commits are batched).</summary>
    public long Commits { get; private set; }

    /// <inheritdoc />
    public IKvBackendReader OpenReader()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new Reader(Volatile.Read(ref _committed));
    }

    /// <inheritdoc />
    public IKvBackendBatch BeginBatch()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new Batch(this);
    }

    /// <inheritdoc />
    /// <remarks>The bytes of keys and values held (there is no disk).</remarks>
    public long SizeBytes => Interlocked.Read(ref _size);

    /// <inheritdoc />
    /// <remarks>All of it: memory holds no free pages.</remarks>
    public long SizeInUseBytes => SizeBytes;

    /// <inheritdoc />
    /// <remarks>Nothing to do: deleted pairs are gone from the dictionaries already.</remarks>
    public void Defragment() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <inheritdoc />
    /// <remarks>Every bucket's pairs as (bucket, key length, key, value length, value) records.</remarks>
    public async Task WriteCheckpointAsync(Stream destination, CancellationToken cancellationToken)
    {
        var state = Volatile.Read(ref _committed);
        using var buffer = new MemoryStream();
        using (var w = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            foreach (var (bucket, pairs) in state.OrderBy(b => b.Key))
            {
                foreach (var (k, v) in pairs)
                {
                    w.Write((byte)bucket);
                    w.Write7BitEncodedInt(k.Length);
                    w.Write(k);
                    w.Write7BitEncodedInt(v.Length);
                    w.Write(v);
                }
            }
        }
        buffer.Position = 0;
        await buffer.CopyToAsync(destination, cancellationToken);
    }

    /// <summary>A backend holding what <see cref="WriteCheckpointAsync"/> wrote.</summary>
    public static MemoryBackend FromCheckpoint(Stream checkpoint)
    {
        var backend = new MemoryBackend();
        using var r = new BinaryReader(checkpoint, System.Text.Encoding.UTF8, leaveOpen: true);
        using var batch = backend.BeginBatch();
        while (checkpoint.Position < checkpoint.Length)
        {
            var bucket = (KvBucket)r.ReadByte();
            var key = r.ReadBytes(r.Read7BitEncodedInt());
            var value = r.ReadBytes(r.Read7BitEncodedInt());
            batch.Put(bucket, key, value);
        }
        batch.Commit();
        return backend;
    }

    /// <inheritdoc />
    public void Dispose() => _disposed = true;

    private void Apply(List<(KvBucket Bucket, byte[] Key, byte[]? Value)> changes)
    {
        lock (_commitLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var state = _committed;
            var size = _size;
            foreach (var group in changes.GroupBy(c => c.Bucket))
            {
                var builder = (state.TryGetValue(group.Key, out var b) ? b : EmptyBucket).ToBuilder();
                foreach (var (_, key, value) in group)
                {
                    if (builder.TryGetValue(key, out var old)) size -= key.Length + old.Length;
                    if (value is null)
                    {
                        builder.Remove(key);
                    }
                    else
                    {
                        builder[key] = value;
                        size += key.Length + value.Length;
                    }
                }
                state = state.SetItem(group.Key, builder.ToImmutable());
            }
            Volatile.Write(ref _committed, state);
            Interlocked.Exchange(ref _size, size);
            Commits++;
        }
    }

    private sealed class Reader(ImmutableDictionary<KvBucket, ImmutableSortedDictionary<byte[], byte[]>> state) : IKvBackendReader
    {
        public byte[]? Get(KvBucket bucket, ReadOnlySpan<byte> key) =>
            state.TryGetValue(bucket, out var pairs) && pairs.TryGetValue(key.ToArray(), out var value) ? value : null;

        public IEnumerable<KeyValuePair<byte[], byte[]>> Scan(KvBucket bucket, ReadOnlyMemory<byte> from, ReadOnlyMemory<byte> to, int limit = 0)
        {
            if (!state.TryGetValue(bucket, out var pairs)) yield break;
            var n = 0;
            // The immutable dictionary has no seek: a test backend can afford to skip up to `from`.
            foreach (var pair in pairs)
            {
                if (pair.Key.AsSpan().SequenceCompareTo(from.Span) < 0) continue;
                if (!to.IsEmpty && pair.Key.AsSpan().SequenceCompareTo(to.Span) >= 0) yield break;
                yield return pair;
                if (limit > 0 && ++n >= limit) yield break;
            }
        }

        public void Dispose()
        {
        }
    }

    private sealed class Batch(MemoryBackend backend) : IKvBackendBatch
    {
        private List<(KvBucket, byte[], byte[]?)> _changes = [];

        public void Put(KvBucket bucket, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => _changes.Add((bucket, key.ToArray(), value.ToArray()));

        public void Delete(KvBucket bucket, ReadOnlySpan<byte> key) => _changes.Add((bucket, key.ToArray(), null));

        public void Commit()
        {
            backend.Apply(_changes);
            _changes = [];
        }

        public void Dispose() => _changes = [];
    }
}
