using Raft.Kv.Backend;
using Raft.Shell.Tests.Storage;
using Raft.Tests.WalCrashChild;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Kv.Backend;

/// <summary>
/// The checkpoint as LMDB's own file (<see cref="LmdbFileCheckpoint"/>): what a leader sends a
/// lagging follower and the follower renames into place (<see cref="KvBackends.InstallCheckpointFileAsync"/>).
/// </summary>
public sealed class LmdbFileCheckpointTests(ITestOutputHelper output)
{
    /// <summary>Writes the checkpoint of a database holding batches 1..<paramref name="batches"/> to a file.</summary>
    private static async Task<string> CheckpointFileAsync(TempDir t, string name, long batches)
    {
        using (var source = KvBackends.Open(t.Sub(name)))
        {
            for (var b = 1; b <= batches; b++) KvCrashBatch.Commit(source, b);
            await using var f = File.Create(Path.Combine(t.Path, name + ".ckpt"));
            await source.WriteCheckpointAsync(f, CancellationToken.None);
        }
        return Path.Combine(t.Path, name + ".ckpt");
    }

    private static string Target(TempDir t, long batches)
    {
        var dir = t.Sub("target");
        using var target = KvBackends.Open(dir);
        for (var b = 1; b <= batches; b++) KvCrashBatch.Commit(target, b);
        return dir;
    }

    private static long Held(string dir)
    {
        using var backend = KvBackends.Open(dir);
        using var r = backend.OpenReader();
        Assert.Null(KvCrashBatch.Check(r));
        return KvCrashBatch.Last(r);
    }

    [Fact]
    public async Task A_checkpoint_begun_before_commits_installs_the_state_of_the_last_commit_before_it_and_no_later()
    {
        using var t = new TempDir();
        var file = Path.Combine(t.Path, "ckpt");
        using (var backend = KvBackends.Open(t.Sub("a")))
        {
            for (var b = 1; b <= 20; b++) KvCrashBatch.Commit(backend, b);
            await using var f = File.Create(file);
            // Nothing is written out until two more batches have committed: they commit while the
            // checkpoint's copy is under way, and must not be in it.
            var gated = new GatedStream(f, () =>
            {
                using var r = backend.OpenReader();
                return KvCrashBatch.Last(r) >= 22;
            });
            var writing = backend.WriteCheckpointAsync(gated, CancellationToken.None);
            var writer = Task.Run(() =>
            {
                for (var b = 21; b <= 40; b++) KvCrashBatch.Commit(backend, b);
            });
            await writing;
            await writer;
            using var r = backend.OpenReader();
            Assert.Equal(40, KvCrashBatch.Last(r));
        }
        var head = new byte[8];
        await using (var f = File.OpenRead(file)) await f.ReadExactlyAsync(head);
        Assert.False(BackendCheckpoint.HasMagic(head), "the checkpoint is the logical dump, not LMDB's file");
        LmdbFileCheckpoint.Verify(file);

        var target = Target(t, 3);
        var index = await KvBackends.InstallCheckpointFileAsync(target, file, ulong.MaxValue, CancellationToken.None);
        Assert.Equal(0UL, index);
        Assert.Equal(20, Held(target));
        Assert.False(Directory.Exists(Path.Combine(target, ".restore")));
        // The received file is left as it came (a restart may install it again).
        LmdbFileCheckpoint.Verify(file);
    }

    [Fact]
    public async Task A_damaged_or_short_file_checkpoint_is_refused_and_the_old_database_stays()
    {
        using var t = new TempDir();
        var good = await CheckpointFileAsync(t, "source", 5);
        var target = Target(t, 9);
        var bytes = await File.ReadAllBytesAsync(good);
        var rng = TestSeed.NewRandom(output.WriteLine);
        var flipped = bytes.ToArray();
        flipped[rng.Next(flipped.Length - LmdbFileCheckpoint.TrailerBytes)] ^= (byte)(1 << rng.Next(8));
        var cases = new (string Name, byte[] Data)[]
        {
            ("a flipped bit", flipped),
            ("cut by 5 bytes", bytes[..^5]),
            ("cut in half", bytes[..(bytes.Length / 2)]),
            ("cut after the database, without the trailer", bytes[..^LmdbFileCheckpoint.TrailerBytes]),
            ("empty", []),
        };
        foreach (var (name, data) in cases)
        {
            var file = Path.Combine(t.Path, "damaged");
            await File.WriteAllBytesAsync(file, data);
            var fromFile = await Assert.ThrowsAsync<InvalidDataException>(() => KvBackends.InstallCheckpointFileAsync(target, file, ulong.MaxValue, CancellationToken.None));
            var fromStream = await Assert.ThrowsAsync<InvalidDataException>(() => KvBackends.RestoreAsync(target, new MemoryStream(data), CancellationToken.None));
            output.WriteLine($"{name}: {fromFile.Message} / {fromStream.Message}");
            Assert.Equal(9, Held(target));
            Assert.False(Directory.Exists(Path.Combine(target, ".restore")));
        }

        // The undamaged file installs.
        await KvBackends.InstallCheckpointFileAsync(target, good, ulong.MaxValue, CancellationToken.None);
        Assert.Equal(5, Held(target));
    }

    [Fact]
    public async Task An_install_killed_at_any_moment_leaves_one_whole_database_and_the_received_files_unchanged()
    {
        var rng = TestSeed.NewRandom(output.WriteLine);
        using var t = new TempDir();
        var a = await CheckpointFileAsync(t, "a", 5);
        var b = await CheckpointFileAsync(t, "b", 9);
        var target = Target(t, 2);
        var installs = 0;
        for (var round = 0; round < 6; round++)
        {
            using var child = ChildProcess.Start("kv-install", target, a, b);
            using var reaper = ChildProcess.KillOnDispose(child);
            var wanted = rng.Next(0, 4);
            for (var seen = 0; seen < wanted;)
            {
                var line = child.StandardOutput.ReadLine();
                if (line is null) Assert.Fail($"round {round}: the child stopped: {child.StandardError.ReadToEnd()} ({TestSeed.Describe})");
                if (line.StartsWith("installed ", StringComparison.Ordinal)) seen++;
            }
            Thread.Sleep(rng.Next(0, 20));
            child.Kill();
            child.WaitForExit();
            installs += child.StandardOutput.ReadToEnd().Split('\n').Count(l => l.StartsWith("installed ", StringComparison.Ordinal)) + wanted;
            var held = Held(target);
            output.WriteLine($"round {round}: killed after {wanted}+ installs; the database holds batch {held}");
            Assert.True(held is 2 or 5 or 9, $"the database holds batch {held} ({TestSeed.Describe})");
            LmdbFileCheckpoint.Verify(a);
            LmdbFileCheckpoint.Verify(b);
        }
        Assert.True(installs > 0, "no install finished in any round");
    }

    [Fact]
    public async Task A_checkpoint_holding_an_index_past_the_snapshot_is_refused_before_the_rename()
    {
        using var t = new TempDir();
        var dir = t.Sub("source");
        using (var source = KvBackends.Open(dir))
        {
            using var batch = source.BeginBatch();
            var index = new byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(index, 500);
            batch.Put(KvBucket.Meta, Raft.Kv.Mvcc.MvccStore.ConsistentIndexKey, index);
            batch.Commit();
            KvCrashBatch.Commit(source, 1);
            await using var f = File.Create(Path.Combine(t.Path, "ckpt"));
            await source.WriteCheckpointAsync(f, CancellationToken.None);
        }
        var target = Target(t, 3);
        var file = Path.Combine(t.Path, "ckpt");
        await Assert.ThrowsAsync<InvalidDataException>(() => KvBackends.InstallCheckpointFileAsync(target, file, 499, CancellationToken.None));
        Assert.Equal(3, Held(target));
        Assert.Equal(500UL, await KvBackends.InstallCheckpointFileAsync(target, file, 500, CancellationToken.None));
        Assert.Equal(1, Held(target));
    }

    [Fact]
    public async Task Closing_the_backend_while_its_checkpoint_streams_stops_the_copy()
    {
        using var t = new TempDir();
        var backend = KvBackends.Open(t.Sub("a"));
        // 16 MB: far more than the copy's first megabyte and the pipe's buffer.
        using (var batch = backend.BeginBatch())
        {
            var value = new byte[8192];
            for (var i = 0; i < 2000; i++) batch.Put(KvBucket.Key, BitConverter.GetBytes(i), value);
            batch.Commit();
        }
        var release = new TaskCompletionSource();
        var sink = new GatedStream(Stream.Null, () => release.Task.IsCompleted);
        var writing = backend.WriteCheckpointAsync(sink, CancellationToken.None);
        backend.Dispose();
        release.SetResult();
        // The copy's pipe is closed under it: the checkpoint fails, the process does not.
        var error = await Record.ExceptionAsync(() => writing);
        output.WriteLine($"checkpoint after close: {error?.GetType().Name}: {error?.Message}");
        Assert.NotNull(error);
    }

    /// <summary>Blocks its first write until <paramref name="condition"/> holds (at most 30 s).</summary>
    private sealed class GatedStream(Stream inner, Func<bool> condition) : Stream
    {
        private bool _waited;

        private async Task WaitOnceAsync()
        {
            if (_waited) return;
            _waited = true;
            var until = DateTime.UtcNow.AddSeconds(30);
            while (!condition() && DateTime.UtcNow < until) await Task.Delay(5);
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await WaitOnceAsync();
            await inner.WriteAsync(buffer, cancellationToken);
        }
    }
}
