using System.Buffers.Binary;
using System.Text;
using Raft.Kv.Backend;
using Raft.Kv.Mvcc;

namespace Raft.Shell.Tests.Kv.Mvcc;

public class MvccStoreTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static string S(ReadOnlyMemory<byte> m) => Encoding.UTF8.GetString(m.Span);

    /// <summary>A clock whose batch timer fires only when the test says so.</summary>
    private sealed class ManualTime : TimeProvider
    {
        private TimerCallback? _callback;
        private object? _state;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            (_callback, _state) = (callback, state);
            return new Stopped();
        }

        public void Fire() => _callback!(_state);

        private sealed class Stopped : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;
            public void Dispose() { }
            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }

    private static MvccStore Open(MemoryBackend backend, int batchLimit = 10_000, ManualTime? time = null) =>
        new(backend, new MvccStoreOptions { BatchLimit = batchLimit, BatchInterval = time is null ? TimeSpan.Zero : TimeSpan.FromMilliseconds(100) }, time);

    private static long Put(MvccStore store, ulong index, string key, string value)
    {
        using var txn = store.Write(index);
        return txn.Put(B(key), B(value));
    }

    private static List<KeyValuePair<byte[], byte[]>> Committed(MemoryBackend backend, KvBucket bucket)
    {
        using var reader = backend.OpenReader();
        return reader.Scan(bucket, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty).ToList();
    }

    [Fact]
    public void RevisionKeysAreEtcdsSeventeenBytesAndATombstoneAddsT()
    {
        var rev = new Revision(0x0102030405060708, 3);
        Assert.Equal("0102030405060708" + "5F" + "0000000000000003", Convert.ToHexString(rev.ToKey()));
        Assert.Equal("0102030405060708" + "5F" + "0000000000000003" + "74", Convert.ToHexString(rev.ToKey(tombstone: true)));
        Assert.Equal(rev, Revision.FromKey(rev.ToKey(tombstone: true)));
        Assert.True(Revision.IsTombstoneKey(rev.ToKey(tombstone: true)));
        Assert.False(Revision.IsTombstoneKey(rev.ToKey()));
        // Bytewise order of the keys is revision order.
        Assert.True(new Revision(1, 300).ToKey().AsSpan().SequenceCompareTo(new Revision(2, 0).ToKey()) < 0);
    }

    [Fact]
    public void ATxnsChangesShareOneMainRevisionWithSubRevisionsInOrder()
    {
        using var backend = new MemoryBackend();
        using var store = Open(backend);
        Put(store, 1, "a", "1");
        using (var txn = store.Write(2))
        {
            txn.Put(B("b"), B("2"));
            txn.Put(B("a"), B("3"));
            Assert.Equal((2, 3), txn.DeleteRange(B("a"), B("c")));
            // The txn reads its own changes.
            Assert.Empty(txn.Range(B("a"), B("c")).Kvs);
        }
        store.Commit();
        var keys = Committed(backend, KvBucket.Key).Select(kv => (Revision.FromKey(kv.Key), Revision.IsTombstoneKey(kv.Key))).ToList();
        Assert.Equal(
            [(new Revision(2, 0), false), (new Revision(3, 0), false), (new Revision(3, 1), false), (new Revision(3, 2), true), (new Revision(3, 3), true)],
            keys);
        Assert.Equal(3, store.CurrentRevision);
        Assert.Equal(0, store.KeyCount);
    }

    [Fact]
    public void ChangesWaitInTheBatchWithTheAppliedIndexAndReadersStillSeeThem()
    {
        using var backend = new MemoryBackend();
        var time = new ManualTime();
        using var store = Open(backend, batchLimit: 3, time: time);
        Put(store, 5, "a", "1");
        Put(store, 6, "b", "2");

        Assert.Empty(Committed(backend, KvBucket.Key));
        Assert.Equal(6UL, store.ConsistentIndex);
        Assert.Equal(0UL, store.CommittedConsistentIndex);
        Assert.Equal("2", S(store.Range(B("b"), default).Kvs.Single().Value));

        // The interval commits the pairs and the applied index in one batch.
        time.Fire();
        Assert.Equal(1, backend.Commits);
        Assert.Equal(2, Committed(backend, KvBucket.Key).Count);
        var meta = Committed(backend, KvBucket.Meta).Single(kv => kv.Key.AsSpan().SequenceEqual("consistent_index"u8));
        Assert.Equal(6UL, BinaryPrimitives.ReadUInt64BigEndian(meta.Value));
        Assert.Equal(6UL, store.CommittedConsistentIndex);

        // A full batch commits without waiting for the interval; an entry that changes no key only moves the index.
        Put(store, 7, "c", "3");
        store.SetConsistentIndex(8);
        Put(store, 9, "d", "4");
        Assert.Equal(1, backend.Commits);
        Put(store, 10, "e", "5");
        Assert.Equal(2, backend.Commits);
        Assert.Equal(10UL, store.CommittedConsistentIndex);
        time.Fire();
        Assert.Equal(2, backend.Commits);
    }

    [Fact]
    public void AReopenedStoreRebuildsItsIndexAndReadsEveryRetainedRevisionAsBefore()
    {
        using var backend = new MemoryBackend();
        var store = Open(backend, batchLimit: 3);
        ulong index = 0;
        Put(store, ++index, "a", "1");
        Put(store, ++index, "b", "1");
        using (var txn = store.Write(++index))
        {
            txn.DeleteRange(B("a"));
            txn.Put(B("c"), B("1"));
        }
        Put(store, ++index, "a", "2");
        Put(store, ++index, "b", "2");
        store.SetConsistentIndex(++index);
        store.Compact(3);
        Put(store, ++index, "b", "3");
        var before = Enumerable.Range(3, 5).Select(rev => Show(store, rev)).ToList();
        store.Commit();

        var reopened = Open(backend);
        Assert.Equal(store.CurrentRevision, reopened.CurrentRevision);
        Assert.Equal(3, reopened.CompactRevision);
        Assert.Equal(index, reopened.ConsistentIndex);
        Assert.Equal(3, reopened.KeyCount);
        Assert.Equal(before, Enumerable.Range(3, 5).Select(rev => Show(reopened, rev)).ToList());
        Assert.Equal(KvError.Compacted, Assert.Throws<MvccException>(() => reopened.Range(B("a"), default, new RangeOptions(Revision: 2))).Error);
        // It carries on counting: b keeps its create revision and version across the reopen.
        Assert.Equal(8, Put(reopened, ++index, "b", "4"));
        Assert.Equal(new KeyValue(B("b"), 3, 8, 4, B("4")), reopened.Range(B("b"), default).Kvs.Single());
    }

    private static string Show(MvccStore store, long rev) =>
        string.Join(",", store.Range(new byte[] { 0 }, new byte[] { 0 }, new RangeOptions(Revision: rev)).Kvs.Select(kv => kv.ToString()));

    [Fact]
    public void CompactionKeepsEachAliveKeysNewestRevisionAndDropsDeletedKeys()
    {
        using var backend = new MemoryBackend();
        using var store = Open(backend);
        Put(store, 1, "a", "1");   // 2
        Put(store, 2, "a", "2");   // 3
        Put(store, 3, "b", "1");   // 4
        using (var txn = store.Write(4)) txn.DeleteRange(B("b")); // 5
        Put(store, 5, "a", "3");   // 6
        store.Compact(5);
        var left = Committed(backend, KvBucket.Key).Select(kv => Revision.FromKey(kv.Key)).ToList();
        // a@3 stays (a's newest revision at 5), a@2, b's put and tombstone go, a@6 is after the compaction.
        Assert.Equal([new Revision(3, 0), new Revision(6, 0)], left);
        Assert.Equal(1, store.IndexedKeys);
        Assert.Equal("2", S(store.Range(B("a"), default, new RangeOptions(Revision: 5)).Kvs.Single().Value));
        Assert.Equal(KvError.Compacted, Assert.Throws<MvccException>(() => store.Compact(5)).Error);
        Assert.Equal(KvError.FutureRevision, Assert.Throws<MvccException>(() => store.Compact(7)).Error);
    }

    // etcd's store starts at compaction revision -1: a first compaction at 0 is accepted, a second
    // one refused, and so after a reopen (found by the differential test against etcd 3.4).
    [Fact]
    public void AFirstCompactionAtRevisionZeroIsAcceptedAndASecondRefused()
    {
        using var backend = new MemoryBackend();
        var store = Open(backend);
        Assert.Equal(KvError.Compacted, Assert.Throws<MvccException>(() => store.Compact(-1)).Error);
        store.Compact(0);
        Assert.Equal(0, store.CompactRevision);
        Assert.Equal(KvError.Compacted, Assert.Throws<MvccException>(() => store.Compact(0)).Error);
        store.Commit();
        var reopened = Open(backend);
        Assert.Equal(KvError.Compacted, Assert.Throws<MvccException>(() => reopened.Compact(0)).Error);
        reopened.Compact(1);
        Assert.Equal(1, reopened.CompactRevision);
    }

    [Fact]
    public void RangeOptionsCountLimitAndTheCurrentRevisionInTheResult()
    {
        using var backend = new MemoryBackend();
        using var store = Open(backend);
        foreach (var (k, i) in new[] { "a", "b", "c" }.Select((k, i) => (k, i))) Put(store, (ulong)i + 1, k, k);
        var limited = store.Range(B("a"), B("z"), new RangeOptions(Limit: 2));
        Assert.Equal(["a", "b"], limited.Kvs.Select(kv => S(kv.Key)));
        Assert.Equal(3, limited.Count);
        var old = store.Range(B("a"), B("z"), new RangeOptions(Revision: 3, Count: true));
        Assert.Empty(old.Kvs);
        Assert.Equal(2, old.Count);
        Assert.Equal(4, old.Revision);
        Assert.Equal(KvError.FutureRevision, Assert.Throws<MvccException>(() => store.Range(B("a"), default, new RangeOptions(Revision: 5))).Error);
    }

    [Fact]
    public async Task ReadersOnOtherThreadsFindEveryPairWhileBatchesCommitUnderThem()
    {
        // Small batches commit every few writes while a reader keeps reading the newest revision:
        // each pair the index names must be in the buffer or the backend view the reader took.
        using var backend = new MemoryBackend();
        using var store = Open(backend, batchLimit: 3);
        using var stop = new CancellationTokenSource();
        var reads = 0;
        var reader = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                var r = store.Range(new byte[] { 0 }, new byte[] { 0 }, new RangeOptions(Limit: 5));
                Assert.True(r.Kvs.Count == Math.Min(5, r.Count));
                Interlocked.Increment(ref reads);
            }
        });
        // At least 5,000 writes, and on until the reader has read 200 times alongside them.
        for (var i = 0; i < 5_000 || (Volatile.Read(ref reads) < 200 && i < 1_000_000 && !reader.IsCompleted); i++)
        {
            using var txn = store.Write((ulong)i + 1);
            txn.Put(B("k" + (i % 50)), B("v" + i));
            if (i % 7 == 0) txn.DeleteRange(B("k" + (i % 11)));
        }
        stop.Cancel();
        await reader;
        Assert.True(reads >= 200, $"{reads} reads");
    }

    /// <summary>A backend whose batch commits wait at a gate while it is closed.</summary>
    private sealed class GatedBackend(MemoryBackend inner) : IKvBackend
    {
        public ManualResetEventSlim Open { get; } = new(true);
        public ManualResetEventSlim Waiting { get; } = new(false);
        public IKvBackendReader OpenReader() => inner.OpenReader();
        public IKvBackendBatch BeginBatch() => new Batch(this, inner.BeginBatch());
        public long SizeBytes => inner.SizeBytes;
        public long SizeInUseBytes => inner.SizeInUseBytes;
        public void Defragment() => inner.Defragment();
        public Task WriteCheckpointAsync(Stream destination, CancellationToken cancellationToken) => inner.WriteCheckpointAsync(destination, cancellationToken);
        public void Dispose() => inner.Dispose();

        private sealed class Batch(GatedBackend backend, IKvBackendBatch inner) : IKvBackendBatch
        {
            public void Put(KvBucket bucket, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => inner.Put(bucket, key, value);
            public void Delete(KvBucket bucket, ReadOnlySpan<byte> key) => inner.Delete(bucket, key);
            public void Commit()
            {
                backend.Waiting.Set();
                backend.Open.Wait();
                inner.Commit();
            }
            public void Dispose() => inner.Dispose();
        }
    }

    [Fact]
    public async Task ThePeriodicCommitLetsWritesGoOnAndKeepsItsPairsReadableUntilItIsDone()
    {
        using var memory = new MemoryBackend();
        var backend = new GatedBackend(memory);
        var time = new ManualTime();
        using var store = new MvccStore(backend, new MvccStoreOptions { BatchInterval = TimeSpan.FromMilliseconds(100) }, time);
        Put(store, 5, "a", "1");
        backend.Open.Reset();
        var commit = Task.Factory.StartNew(time.Fire, TaskCreationOptions.LongRunning);
        Assert.True(backend.Waiting.Wait(TimeSpan.FromSeconds(20)));

        // The batch with "a" is committing (held at the gate): a write does not wait for it, and
        // readers find both pairs, neither of them in the backend yet.
        var write = Task.Factory.StartNew(() => Put(store, 6, "b", "2"), TaskCreationOptions.LongRunning);
        Assert.Equal(3, await write.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(["1", "2"], store.Range(B("a"), B("c")).Kvs.Select(kv => S(kv.Value)));
        Assert.Empty(Committed(memory, KvBucket.Key));
        Assert.Equal(0UL, store.CommittedConsistentIndex);

        // A commit asked for meanwhile waits for the one in flight: batches commit in order.
        var forced = Task.Factory.StartNew(store.Commit, TaskCreationOptions.LongRunning);
        await Task.Delay(50);
        Assert.False(forced.IsCompleted);
        backend.Open.Set();
        await commit.WaitAsync(TimeSpan.FromSeconds(20));
        await forced.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(2, memory.Commits);
        Assert.Equal(6UL, store.CommittedConsistentIndex);
        Assert.Equal(2, Committed(memory, KvBucket.Key).Count);
        Assert.Equal(["1", "2"], store.Range(B("a"), B("c")).Kvs.Select(kv => S(kv.Value)));
    }

    [Fact]
    public void AKeysHistoryTakesFewBytes()
    {
        // One put of a 16-byte key at a seven-digit revision: key length, key, one generation
        // (count, version, created main and sub, one revision as a delta and a sub).
        var entry = KeyHistory.Create(new byte[16], new Revision(1_000_000, 0));
        Assert.Equal(1 + 16 + 1 + 1 + 3 + 1 + 1 + 1, entry.Length);
        var again = KeyHistory.Put(entry, new Revision(1_000_001, 0));
        Assert.Equal(entry.Length + 2, again.Length);
        Assert.True(KeyHistory.Get(again, 1_000_000, out var modified, out var created, out var version));
        Assert.Equal((new Revision(1_000_000, 0), new Revision(1_000_000, 0), 1L), (modified, created, version));
    }
}
