using Raft.Kv.Backend;
using Raft.Tests.WalCrashChild;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Kv.Backend;

/// <summary>The durable backend (<see cref="KvBackends.Open"/>, LMDB) against the backend contract.</summary>
public sealed class LmdbBackendTests(ITestOutputHelper output)
{
    private static byte[] B(params byte[] bytes) => bytes;

    [Fact]
    public void Keys_are_scanned_in_bytewise_order_with_bounds_and_limits_like_a_model()
    {
        var rng = TestSeed.NewRandom(output.WriteLine);
        using var t = new TempDir();
        using var backend = KvBackends.Open(t.Path);
        var model = new SortedDictionary<byte[], byte[]>(BytewiseComparer.Instance);
        for (var round = 0; round < 20; round++)
        {
            using (var batch = backend.BeginBatch())
            {
                for (var i = 0; i < 50; i++)
                {
                    var key = RandomKey(rng);
                    if (rng.Next(4) == 0)
                    {
                        batch.Delete(KvBucket.Key, key);
                        model.Remove(key);
                    }
                    else
                    {
                        var value = new byte[rng.Next(0, 40)];
                        rng.NextBytes(value);
                        batch.Put(KvBucket.Key, key, value);
                        model[key] = value;
                    }
                }
                batch.Commit();
            }
            using var reader = backend.OpenReader();
            for (var q = 0; q < 30; q++)
            {
                var (from, to, limit) = RandomQuery(rng);
                var problem = ScanMismatch(reader, model, from, to, limit);
                Assert.True(problem is null, $"{problem} ({TestSeed.Describe})");
            }
        }
    }

    [Fact]
    public void The_scan_check_catches_a_backend_that_orders_signed_bytes()
    {
        // The deliberately broken variant: the same data, scanned in signed-byte order (0x80 before 0x00).
        var rng = TestSeed.NewRandom(output.WriteLine);
        using var t = new TempDir();
        using var backend = KvBackends.Open(t.Path);
        var model = new SortedDictionary<byte[], byte[]>(BytewiseComparer.Instance);
        using (var batch = backend.BeginBatch())
        {
            foreach (var k in new[] { B(0x00), B(0x01, 0x02), B(0x7F), B(0x80), B(0xFF, 0x00) })
            {
                batch.Put(KvBucket.Key, k, k);
                model[k] = k;
            }
            batch.Commit();
        }
        using var reader = backend.OpenReader();
        Assert.Null(ScanMismatch(reader, model, default, default, 0));
        var caught = false;
        for (var q = 0; q < 50 && !caught; q++)
        {
            var (from, to, limit) = q == 0 ? (default(ReadOnlyMemory<byte>), default(ReadOnlyMemory<byte>), 0) : RandomQuery(rng);
            caught = ScanMismatch(new SignedOrderReader(reader), model, from, to, limit) is not null;
        }
        Assert.True(caught, $"the check missed signed-byte order ({TestSeed.Describe})");
    }

    [Fact]
    public void Buckets_are_isolated()
    {
        using var t = new TempDir();
        using var backend = KvBackends.Open(t.Path);
        using (var batch = backend.BeginBatch())
        {
            foreach (var bucket in Enum.GetValues<KvBucket>()) batch.Put(bucket, "k"u8, new[] { (byte)bucket });
            batch.Commit();
        }
        using (var batch = backend.BeginBatch())
        {
            batch.Delete(KvBucket.Lease, "k"u8);
            batch.Put(KvBucket.Auth, "only-auth"u8, "x"u8);
            batch.Commit();
        }
        using var reader = backend.OpenReader();
        foreach (var bucket in Enum.GetValues<KvBucket>())
        {
            var pairs = reader.Scan(bucket, default, default).ToList();
            if (bucket == KvBucket.Lease)
            {
                Assert.Empty(pairs);
                continue;
            }
            Assert.Equal(new[] { (byte)bucket }, reader.Get(bucket, "k"u8));
            Assert.Equal(bucket == KvBucket.Auth ? 2 : 1, pairs.Count);
        }
    }

    [Fact]
    public void A_batch_is_invisible_before_Commit_whole_after_it_and_gone_if_disposed()
    {
        using var t = new TempDir();
        using var backend = KvBackends.Open(t.Path);
        using var before = backend.OpenReader();
        using (var batch = backend.BeginBatch())
        {
            for (var i = 0; i < 100; i++) batch.Put(KvBucket.Key, KvCrashBatch.Key(1, i), KvCrashBatch.Value(1, i));
            using (var during = backend.OpenReader())
            {
                Assert.Empty(during.Scan(KvBucket.Key, default, default));
                Assert.Null(during.Get(KvBucket.Key, KvCrashBatch.Key(1, 0)));
            }
            batch.Commit();
            Assert.Throws<InvalidOperationException>(() => batch.Put(KvBucket.Key, "late"u8, "x"u8));
        }
        // A view opened before the commit keeps the state it started with.
        Assert.Empty(before.Scan(KvBucket.Key, default, default));
        using (var after = backend.OpenReader()) Assert.Equal(100, after.Scan(KvBucket.Key, default, default).Count());
        using (var dropped = backend.BeginBatch()) dropped.Put(KvBucket.Key, "dropped"u8, "x"u8);
        using (var after = backend.OpenReader()) Assert.Null(after.Get(KvBucket.Key, "dropped"u8));
        Assert.Throws<ArgumentException>(() => backend.BeginBatch().Put(KvBucket.Key, ReadOnlySpan<byte>.Empty, "x"u8));
    }

    [Fact]
    public async Task Reader_views_stay_consistent_while_batches_commit()
    {
        using var t = new TempDir();
        using var backend = KvBackends.Open(t.Path);
        KvCrashBatch.Commit(backend, 1);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        var writer = Task.Run(() =>
        {
            var b = 1L;
            while (!cts.IsCancellationRequested) KvCrashBatch.Commit(backend, ++b);
            return b;
        });
        var checks = 0;
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            while (!cts.IsCancellationRequested)
            {
                using var reader = backend.OpenReader();
                var first = KvCrashBatch.Last(reader);
                var problem = KvCrashBatch.Check(reader);
                Assert.True(problem is null, problem);
                Assert.Equal(first, KvCrashBatch.Last(reader));
                Interlocked.Increment(ref checks);
            }
        })).ToArray();
        await Task.WhenAll(readers);
        var batches = await writer;
        output.WriteLine($"{batches} batches committed, {checks} views checked");
        Assert.True(batches > 2 && checks > 0, $"{batches} batches, {checks} checks");
    }

    [Fact]
    public async Task A_checkpoint_taken_while_writing_restores_to_exactly_one_committed_state()
    {
        using var t = new TempDir();
        long atStart, restored;
        var checkpoint = new MemoryStream();
        using (var backend = KvBackends.Open(t.Sub("a")))
        {
            for (var b = 1; b <= 20; b++) KvCrashBatch.Commit(backend, b);
            using var stop = new CancellationTokenSource();
            var writer = Task.Run(() =>
            {
                var b = 20L;
                while (!stop.IsCancellationRequested) KvCrashBatch.Commit(backend, ++b);
                return b;
            });
            await Task.Delay(50);
            using (var r = backend.OpenReader()) atStart = KvCrashBatch.Last(r);
            // The checkpoint's first write waits until the writer has committed twice more, so
            // batches certainly commit while the checkpoint's read view is open, however the
            // machine schedules the two threads.
            var gated = new WaitOnFirstWriteStream(checkpoint, () =>
            {
                using var r = backend.OpenReader();
                return KvCrashBatch.Last(r) >= atStart + 2;
            });
            await backend.WriteCheckpointAsync(gated, CancellationToken.None);
            using (var r = backend.OpenReader()) Assert.True(KvCrashBatch.Last(r) > atStart, "no batch committed while the checkpoint was written");
            stop.Cancel();
            await writer;
        }
        checkpoint.Position = 0;
        await KvBackends.RestoreAsync(t.Sub("b"), checkpoint, CancellationToken.None);
        using (var backend = KvBackends.Open(t.Sub("b")))
        using (var r = backend.OpenReader())
        {
            restored = KvCrashBatch.Last(r);
            Assert.Null(KvCrashBatch.Check(r));
        }
        output.WriteLine($"checkpoint of {checkpoint.Length} bytes holds batch {restored}; batch {atStart} was committed when it began");
        Assert.True(restored >= atStart, $"restored batch {restored} is older than {atStart}, committed before the checkpoint began");
    }

    [Fact]
    public async Task Restore_replaces_the_database_durably_and_a_damaged_checkpoint_changes_nothing()
    {
        using var t = new TempDir();
        var checkpoint = new MemoryStream();
        using (var source = KvBackends.Open(t.Sub("source")))
        {
            for (var b = 1; b <= 5; b++) KvCrashBatch.Commit(source, b);
            await source.WriteCheckpointAsync(checkpoint, CancellationToken.None);
        }
        using (var target = KvBackends.Open(t.Sub("target")))
        {
            for (var b = 1; b <= 9; b++) KvCrashBatch.Commit(target, b);
            using var batch = target.BeginBatch();
            batch.Put(KvBucket.Members, "stale"u8, "x"u8);
            batch.Commit();
            await Assert.ThrowsAsync<InvalidOperationException>(() => KvBackends.RestoreAsync(t.Sub("target"), new MemoryStream(checkpoint.ToArray()), CancellationToken.None));
        }

        // Damaged: one byte flipped in the middle, or the stream cut short. The old database stays.
        var damaged = checkpoint.ToArray();
        damaged[damaged.Length / 2] ^= 0x40;
        await Assert.ThrowsAsync<InvalidDataException>(() => KvBackends.RestoreAsync(t.Sub("target"), new MemoryStream(damaged), CancellationToken.None));
        await Assert.ThrowsAsync<InvalidDataException>(() => KvBackends.RestoreAsync(t.Sub("target"), new MemoryStream(checkpoint.ToArray()[..^5]), CancellationToken.None));
        using (var target = KvBackends.Open(t.Sub("target")))
        using (var r = target.OpenReader())
        {
            Assert.Equal(9, KvCrashBatch.Last(r));
            Assert.Null(KvCrashBatch.Check(r));
        }

        await KvBackends.RestoreAsync(t.Sub("target"), new MemoryStream(checkpoint.ToArray()), CancellationToken.None);
        Assert.False(Directory.Exists(Path.Combine(t.Sub("target"), ".restore")));
        using (var target = KvBackends.Open(t.Sub("target")))
        using (var r = target.OpenReader())
        {
            Assert.Equal(5, KvCrashBatch.Last(r));
            Assert.Null(KvCrashBatch.Check(r));
            Assert.Null(r.Get(KvBucket.Members, "stale"u8));
        }
    }

    [Fact]
    public void The_crash_check_catches_a_half_applied_batch_and_a_missed_delete()
    {
        // The crash test's checker, shown to fail on the states a broken backend would leave.
        using var t = new TempDir();
        using var backend = KvBackends.Open(t.Path);
        for (var b = 1; b <= 3; b++) KvCrashBatch.Commit(backend, b);
        using (var r = backend.OpenReader()) Assert.Null(KvCrashBatch.Check(r));
        using (var half = backend.BeginBatch())
        {
            for (var i = 0; i < KvCrashBatch.Size(4) / 2 + 1; i++) half.Put(KvBucket.Key, KvCrashBatch.Key(4, i), KvCrashBatch.Value(4, i));
            half.Commit();
        }
        using (var r = backend.OpenReader()) Assert.NotNull(KvCrashBatch.Check(r));
        using (var rest = backend.BeginBatch())
        {
            for (var i = 0; i < KvCrashBatch.Size(4); i++) rest.Put(KvBucket.Key, KvCrashBatch.Key(4, i), KvCrashBatch.Value(4, i));
            rest.Put(KvBucket.Lease, KvCrashBatch.LastKey, KvCrashBatch.Number(4));
            rest.Put(KvBucket.Meta, KvCrashBatch.BatchKey, KvCrashBatch.Number(4));
            rest.Commit();
        }
        // Batch 4 without its deletes of batch 2.
        using (var r = backend.OpenReader()) Assert.NotNull(KvCrashBatch.Check(r));
    }

    [Fact]
    public void A_second_open_of_one_directory_in_a_process_is_refused()
    {
        using var t = new TempDir();
        using (KvBackends.Open(t.Path))
            Assert.Throws<InvalidOperationException>(() => KvBackends.Open(t.Path));
        using (KvBackends.Open(t.Path)) { }
    }

    private static byte[] RandomKey(Random rng)
    {
        byte[] alphabet = [0x00, 0x01, 0x5F, 0x7F, 0x80, 0x81, 0xFE, 0xFF];
        var k = new byte[rng.Next(1, 5)];
        for (var i = 0; i < k.Length; i++) k[i] = alphabet[rng.Next(alphabet.Length)];
        return k;
    }

    private static (ReadOnlyMemory<byte> From, ReadOnlyMemory<byte> To, int Limit) RandomQuery(Random rng) =>
        (rng.Next(4) == 0 ? default : RandomKey(rng), rng.Next(4) == 0 ? default : RandomKey(rng), rng.Next(3) == 0 ? rng.Next(1, 10) : 0);

    /// <summary>What differs between a scan and the model's answer to it (null when nothing does).</summary>
    internal static string? ScanMismatch(IKvBackendReader reader, SortedDictionary<byte[], byte[]> model, ReadOnlyMemory<byte> from, ReadOnlyMemory<byte> to, int limit)
    {
        var expected = model.Where(p => (from.IsEmpty || p.Key.AsSpan().SequenceCompareTo(from.Span) >= 0) && (to.IsEmpty || p.Key.AsSpan().SequenceCompareTo(to.Span) < 0));
        if (limit > 0) expected = expected.Take(limit);
        var e = expected.ToList();
        var a = reader.Scan(KvBucket.Key, from, to, limit).ToList();
        var query = $"scan [{Convert.ToHexString(from.Span)}, {Convert.ToHexString(to.Span)}) limit {limit}";
        if (a.Count != e.Count) return $"{query}: {a.Count} pairs, expected {e.Count}";
        for (var i = 0; i < a.Count; i++)
        {
            if (!a[i].Key.AsSpan().SequenceEqual(e[i].Key)) return $"{query}: pair {i} is {Convert.ToHexString(a[i].Key)}, expected {Convert.ToHexString(e[i].Key)}";
            if (!a[i].Value.AsSpan().SequenceEqual(e[i].Value)) return $"{query}: value of {Convert.ToHexString(a[i].Key)} differs";
            if (!(reader.Get(KvBucket.Key, a[i].Key) ?? []).AsSpan().SequenceEqual(e[i].Value)) return $"get {Convert.ToHexString(a[i].Key)} differs from the scan";
        }
        return null;
    }

    /// <summary>Unsigned lexicographic order, the contract's order.</summary>
    internal sealed class BytewiseComparer : IComparer<byte[]>
    {
        public static readonly BytewiseComparer Instance = new();
        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }

    /// <summary>A broken reader: it answers scans in signed-byte order.</summary>
    private sealed class SignedOrderReader(IKvBackendReader inner) : IKvBackendReader
    {
        public byte[]? Get(KvBucket bucket, ReadOnlySpan<byte> key) => inner.Get(bucket, key);

        public IEnumerable<KeyValuePair<byte[], byte[]>> Scan(KvBucket bucket, ReadOnlyMemory<byte> from, ReadOnlyMemory<byte> to, int limit = 0)
        {
            static int Signed(byte[] x, byte[] y)
            {
                for (var i = 0; i < Math.Min(x.Length, y.Length); i++)
                    if (x[i] != y[i]) return ((sbyte)x[i]).CompareTo((sbyte)y[i]);
                return x.Length.CompareTo(y.Length);
            }
            var all = inner.Scan(bucket, default, default).ToList();
            all.Sort((p, q) => Signed(p.Key, q.Key));
            var f = from.ToArray();
            var t = to.ToArray();
            var selected = all.Where(p => (f.Length == 0 || Signed(p.Key, f) >= 0) && (t.Length == 0 || Signed(p.Key, t) < 0));
            return limit > 0 ? selected.Take(limit) : selected;
        }

        public void Dispose() { }
    }

    /// <summary>A stream whose first write waits (up to 30 s) until a condition holds.</summary>
    private sealed class WaitOnFirstWriteStream(Stream inner, Func<bool> condition) : Stream
    {
        private bool _waited;

        private void WaitOnce()
        {
            if (_waited) return;
            _waited = true;
            var until = DateTime.UtcNow.AddSeconds(30);
            while (!condition() && DateTime.UtcNow < until) Thread.Sleep(5);
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            WaitOnce();
            inner.Write(buffer, offset, count);
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            WaitOnce();
            inner.Write(buffer);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            WaitOnce();
            return inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            WaitOnce();
            return inner.WriteAsync(buffer, offset, count, cancellationToken);
        }
    }
}
