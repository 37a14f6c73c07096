using System.Security.Cryptography;
using Raft.Kv.Backend;
using Raft.Kv.Http;
using Raft.Kv.Mvcc;

namespace Raft.Shell.Tests.Kv.Backend;

/// <summary>
/// Defragmentation of the LMDB backend (etcd's defrag) and the snapshot stream built from a store's
/// committed view: sizes, data kept, readers waited for, the stream's padding and trailer.
/// </summary>
public sealed class LmdbDefragmentTests
{
    private static byte[] Key(int i) => BitConverter.GetBytes(i).Reverse().ToArray();

    private static void Fill(IKvBackend backend, int count, int valueBytes)
    {
        using var batch = backend.BeginBatch();
        for (var i = 0; i < count; i++)
            batch.Put(KvBucket.Key, Key(i), Enumerable.Repeat((byte)i, valueBytes).ToArray());
        batch.Commit();
    }

    [Fact]
    public void The_size_read_between_commits_is_the_data_file_s_size_after_each()
    {
        using var t = new TempDir();
        using var backend = KvBackends.Open(t.Path);
        var file = Path.Combine(t.Path, LmdbBackend.DataFile);
        // Read twice with no commit between (the second from the cache), then after each commit that grows the file.
        Assert.Equal(new FileInfo(file).Length, backend.SizeBytes);
        Assert.Equal(new FileInfo(file).Length, backend.SizeBytes);
        for (var round = 0; round < 3; round++)
        {
            var before = backend.SizeBytes;
            using (var batch = backend.BeginBatch())
            {
                for (var i = 0; i < 200; i++) batch.Put(KvBucket.Key, Key(round * 1000 + i), new byte[8192]);
                batch.Commit();
            }
            Assert.Equal(new FileInfo(file).Length, backend.SizeBytes);
            Assert.True(backend.SizeBytes > before, $"round {round}: {backend.SizeBytes} bytes after 1.6 MB more, {before} before");
        }
    }

    [Fact]
    public void Defragment_gives_back_the_space_of_deleted_pairs_and_keeps_the_rest()
    {
        using var t = new TempDir();
        using var backend = KvBackends.Open(t.Path);
        Fill(backend, 400, 8192);
        var full = backend.SizeBytes;
        Assert.InRange(backend.SizeInUseBytes, 400L * 8192, full);
        using (var batch = backend.BeginBatch())
        {
            for (var i = 10; i < 400; i++) batch.Delete(KvBucket.Key, Key(i));
            batch.Commit();
        }
        Assert.True(backend.SizeBytes >= full, "LMDB shrank its file by itself");
        Assert.True(backend.SizeInUseBytes < full / 10, $"in use {backend.SizeInUseBytes} of {full} after deleting most pairs");

        backend.Defragment();

        Assert.True(backend.SizeBytes < full / 10, $"{backend.SizeBytes} bytes after defragmenting, {full} before");
        Assert.InRange(backend.SizeInUseBytes, 1, backend.SizeBytes);
        using (var reader = backend.OpenReader())
        {
            var left = reader.Scan(KvBucket.Key, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty).ToList();
            Assert.Equal(Enumerable.Range(0, 10).Select(Key), left.Select(p => p.Key));
            Assert.All(left.Select((p, i) => (p, i)), x => Assert.Equal(Enumerable.Repeat((byte)x.i, 8192), x.p.Value));
        }
        // Writes go on in the new file, and it reopens.
        Fill(backend, 20, 16);
        backend.Dispose();
        using var again = KvBackends.Open(t.Path);
        using var r = again.OpenReader();
        Assert.Equal(20, r.Scan(KvBucket.Key, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty).Count());
    }

    [Fact]
    public async Task Defragment_waits_for_open_readers_and_gives_up_on_one_that_stays()
    {
        using var t = new TempDir();
        using var backend = (LmdbBackend)KvBackends.Open(t.Path);
        Fill(backend, 50, 100);
        var size = backend.SizeBytes;

        // A reader that stays open: defragmenting changes nothing and says why.
        var stays = backend.OpenReader();
        var error = Assert.Throws<TimeoutException>(() => backend.Defragment(TimeSpan.FromMilliseconds(200)));
        Assert.Contains("1 read transactions still open", error.Message);
        Assert.Equal(100, stays.Get(KvBucket.Key, Key(3))!.Length);

        // A reader that ends while the defragmentation waits: it goes ahead; a reader opened meanwhile
        // waits for the new file and finds the data there.
        var defrag = Task.Run(() => backend.Defragment(TimeSpan.FromSeconds(20)));
        await Task.Delay(100);
        var opening = Task.Run(() =>
        {
            using var late = backend.OpenReader();
            return late.Get(KvBucket.Key, Key(49))?.Length;
        });
        await Task.Delay(100);
        Assert.False(defrag.IsCompleted, "defragment did not wait for the open reader");
        stays.Dispose();
        await defrag.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(100, await opening.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.True(backend.SizeBytes <= size, $"{backend.SizeBytes} bytes after defragmenting, {size} before");
    }

    /// <summary>
    /// Defragmenting while the apply path runs txns that only read (their read view ends before the
    /// applied index is recorded under the store's batch lock, which a defragmentation holds while it
    /// waits for views to end) and puts: every defragmentation finishes, none waits for the reader
    /// timeout, and the store holds every put. With the view held across the lock, it deadlocked
    /// until the timeout.
    /// </summary>
    [Fact]
    public async Task Defragmenting_beside_the_apply_path_never_waits_for_a_view_that_waits_for_it()
    {
        using var t = new TempDir();
        using var store = new MvccStore(KvBackends.Open(t.Path));
        var stop = DateTime.UtcNow + TimeSpan.FromSeconds(2);
        var puts = 0;
        var apply = Task.Run(() =>
        {
            ulong index = 0;
            var key = "k"u8.ToArray();
            // A compare that fails and a failure branch that only reads: the txn's read-only path.
            var readOnly = new TxnRequest([new Compare(CompareResult.Equal, CompareTarget.Value, key, Value: "never"u8.ToArray())], [],
                [new RangeRequest(key)]);
            while (DateTime.UtcNow < stop)
            {
                KvApplier.Txn(store, ++index, readOnly);
                using (var w = store.Write(++index)) KvApplier.Put(w, new PutRequest(Key(puts), new byte[512]));
                puts++;
            }
        });
        var defrags = 0;
        var slowest = TimeSpan.Zero;
        while (!apply.IsCompleted)
        {
            var started = DateTime.UtcNow;
            await Task.Run(store.Defragment);
            defrags++;
            slowest = TimeSpan.FromTicks(Math.Max(slowest.Ticks, (DateTime.UtcNow - started).Ticks));
        }
        await apply;
        Assert.True(defrags > 1, $"{defrags} defragmentations");
        Assert.True(slowest < LmdbBackend.DefragmentReaderWait / 2, $"a defragmentation took {slowest.TotalSeconds:0.0} s: it waited on a view that waited for it");
        using var read = store.Read();
        Assert.Equal(puts, read.Range(new byte[] { 0 }, new byte[] { 0 }).Count);
    }

    [Fact]
    public async Task The_snapshot_stream_is_the_checkpoint_padded_to_512_bytes_then_its_sha256()
    {
        using var t = new TempDir();
        using var store = new MvccStore(KvBackends.Open(t.Sub("source")));
        for (var i = 0; i < 300; i++)
        {
            using var w = store.Write((ulong)i + 1);
            w.Put(Key(i), new byte[i * 7], 0);
        }
        var messages = new List<(ulong Remaining, byte[] Blob)>();
        await MaintenanceSnapshot.SendAsync(store, (remaining, blob, _) =>
        {
            messages.Add((remaining, blob.ToArray()));
            return Task.CompletedTask;
        }, CancellationToken.None);

        var data = messages.SkipLast(1).SelectMany(m => m.Blob).ToArray();
        Assert.Equal(0, data.Length % MaintenanceSnapshot.Alignment);
        Assert.Equal(SHA256.HashData(data), messages[^1].Blob);
        Assert.All(messages.SkipLast(1), m => Assert.InRange(m.Blob.Length, 1, MaintenanceSnapshot.ChunkBytes));
        // Each message announces what is still to come, down to 0 before the trailer.
        var sent = 0L;
        foreach (var (remaining, blob) in messages.SkipLast(1))
        {
            sent += blob.Length;
            Assert.Equal((ulong)(data.Length - sent), remaining);
        }

        // Our restore reads it (padding included) back to the same history.
        await KvBackends.RestoreAsync(t.Sub("restored"), new MemoryStream(data), CancellationToken.None, zeroPadding: true);
        using var restored = new MvccStore(KvBackends.Open(t.Sub("restored")));
        Assert.Equal(store.HashKV(0), restored.HashKV(0));
        // Without the padding allowance the same bytes are damage, and so is a non-zero byte in the padding.
        await Assert.ThrowsAsync<InvalidDataException>(() => KvBackends.RestoreAsync(t.Sub("strict"), new MemoryStream(data), CancellationToken.None));
        data[^1] = 1;
        await Assert.ThrowsAsync<InvalidDataException>(() => KvBackends.RestoreAsync(t.Sub("bad"), new MemoryStream(data), CancellationToken.None, zeroPadding: true));
    }
}
