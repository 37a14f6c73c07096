using Raft.Kv.Backend;

namespace Raft.Store.Bench;

/// <summary>
/// The store's own backend (<see cref="KvBackends.Open"/>, LMDB) as the MVCC store will use it:
/// buffered batches, read views, and its logical checkpoint instead of LMDB's file copy.
/// </summary>
internal sealed class BackendCandidate(string dir) : ICandidate
{
    private readonly IKvBackend _backend = KvBackends.Open(dir);

    public void Commit(IReadOnlyList<(byte[] Key, byte[] Value)> batch)
    {
        using var b = _backend.BeginBatch();
        foreach (var (k, v) in batch) b.Put(KvBucket.Key, k, v);
        b.Commit();
    }

    public byte[]? Get(byte[] key)
    {
        using var r = _backend.OpenReader();
        return r.Get(KvBucket.Key, key);
    }

    public long Scan(byte[] from, int count)
    {
        using var r = _backend.OpenReader();
        return r.Scan(KvBucket.Key, from, ReadOnlyMemory<byte>.Empty, count).Sum(p => (long)p.Key.Length + p.Value.Length);
    }

    public void Checkpoint(FileStream destination, string scratch) =>
        _backend.WriteCheckpointAsync(destination, CancellationToken.None).GetAwaiter().GetResult();

    public void Dispose() => _backend.Dispose();
}
