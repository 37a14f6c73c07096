using System.Buffers.Binary;
using System.IO.Pipes;
using LightningDB;
using Microsoft.Win32.SafeHandles;
using Raft.Shell.Wal;

namespace Raft.Kv.Backend;

/// <summary>
/// The checkpoint as LMDB's own file: the compacting copy of the environment
/// (<c>mdb_env_copyfd2</c> with <c>MDB_CP_COMPACT</c>, whole pages, free pages left out), then a
/// 32-byte trailer: the file's length (8 bytes, big-endian), its page size (4), the version of the
/// LMDB that wrote it (major, minor, patch, 2 bytes each), 2 zero bytes, the CRC-32C of every byte
/// before the CRC (4), and the magic <c>RAFTKVF1</c>. A follower installs it by giving the received
/// file a name in the staging directory, checking it, and renaming it over <c>data.mdb</c>, with no
/// pass over the pairs (etcd renames the bbolt file it received). The file's first page is LMDB's
/// meta page, never the logical dump's magic (<see cref="BackendCheckpoint"/>), so the two are told
/// apart by their first bytes. LMDB keeps the trailer as bytes past its last page, which it
/// ignores and later writes over.
/// </summary>
internal static class LmdbFileCheckpoint
{
    private static readonly byte[] Magic = "RAFTKVF1"u8.ToArray();

    /// <summary>Bytes of the trailer.</summary>
    public const int TrailerBytes = 32;

    private const int PumpBytes = 1 << 20;

    /// <summary>What the trailer says about the file before it.</summary>
    public readonly record struct Trailer(long DataBytes, int PageSize, int Major, int Minor, int Patch)
    {
        /// <summary>The LMDB that wrote the file, as <c>major.minor.patch</c>.</summary>
        public string Version => $"{Major}.{Minor}.{Patch}";
    }

    /// <summary>True when <paramref name="head"/> (the first 8 bytes) is not the logical dump's magic.</summary>
    public static bool IsFileCheckpoint(ReadOnlySpan<byte> head) => !BackendCheckpoint.HasMagic(head);

    /// <summary>
    /// Starts LMDB's compacting copy of <paramref name="env"/> into a pipe on a thread of its own
    /// and returns once its first bytes came out: LMDB begins the copy's read transaction before it
    /// writes anything, so a caller that holds the write lock until then gets the state of the
    /// last commit. <paramref name="reader"/> (a read view opened under the same lock) keeps the
    /// backend from closing or defragmenting under the copy, and its end ends the copy
    /// (<see cref="Copy.End"/>).
    /// </summary>
    public static Copy Start(LightningEnvironment env, IKvBackendReader reader)
    {
        var pipe = new AnonymousPipeServerStream(PipeDirection.In, HandleInheritability.None);
        var copy = new Copy(env, pipe, reader);
        copy.ReadFirst();
        return copy;
    }

    /// <summary>A running copy: its bytes are pumped to a stream with the trailer after them.</summary>
    public sealed class Copy
    {
        private readonly AnonymousPipeServerStream _pipe;
        private readonly IKvBackendReader _reader;
        private readonly Thread _thread;
        private readonly byte[] _first = new byte[PumpBytes];
        private readonly int _pageSize;
        private readonly LightningVersionInfo _version;
        private int _firstCount;
        private Exception? _error;
        private int _ended;

        internal Copy(LightningEnvironment env, AnonymousPipeServerStream pipe, IKvBackendReader reader)
        {
            _pipe = pipe;
            _reader = reader;
            _pageSize = (int)env.EnvironmentStats.PageSize;
            _version = env.Version;
            _thread = new Thread(() =>
            {
                try
                {
                    // LMDB writes through the descriptor; the FileStream only carries it there.
                    var handle = new SafeFileHandle(pipe.ClientSafePipeHandle.DangerousGetHandle(), ownsHandle: false);
                    using var sink = new FileStream(handle, FileAccess.Write, bufferSize: 0);
                    var rc = env.CopyToStream(sink, compact: true);
                    if (rc != MDBResultCode.Success) _error = new IOException($"LMDB's copy of the environment failed: {rc}");
                }
                catch (Exception ex)
                {
                    _error = ex;
                }
                finally
                {
                    // The read end then sees the end of the copy.
                    pipe.DisposeLocalCopyOfClientHandle();
                }
            })
            { IsBackground = true, Name = "lmdb checkpoint copy" };
            _thread.Start();
        }

        internal void ReadFirst()
        {
            try
            {
                // One read: any byte at all means the read transaction has begun.
                _firstCount = _pipe.Read(_first);
            }
            catch
            {
                End();
                throw;
            }
        }

        /// <summary>Writes the copy and its trailer to <paramref name="destination"/>, then ends the copy.</summary>
        public async Task WriteToAsync(Stream destination, CancellationToken cancellationToken)
        {
            try
            {
                uint crc = 0;
                long length = 0;
                var buffer = _first;
                var count = _firstCount;
                var spare = new byte[PumpBytes];
                while (count > 0)
                {
                    crc = Crc32C.Update(crc, buffer.AsSpan(0, count));
                    length += count;
                    var write = destination.WriteAsync(buffer.AsMemory(0, count), cancellationToken);
                    (buffer, spare) = (spare, buffer);
                    // The next read overlaps the write of the last one.
                    var read = _pipe.ReadAsync(buffer, cancellationToken);
                    await write.ConfigureAwait(false);
                    count = await read.ConfigureAwait(false);
                }
                _thread.Join();
                if (_error is not null) throw new IOException("the checkpoint's copy of the database failed", _error);
                if (length == 0 || length % _pageSize != 0)
                    throw new IOException($"LMDB's copy of the environment is {length} bytes, not whole pages of {_pageSize}");
                var trailer = new byte[TrailerBytes];
                WriteTrailer(trailer, new Trailer(length, _pageSize, _version.Major, _version.Minor, _version.Patch), crc);
                await destination.WriteAsync(trailer, cancellationToken).ConfigureAwait(false);
                await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _reader.Dispose();
            }
        }

        /// <summary>
        /// Stops the copy: closing the read end fails LMDB's next write, and the thread is waited
        /// for, so the environment is never closed under it.
        /// </summary>
        public void End()
        {
            if (Interlocked.Exchange(ref _ended, 1) == 1) return;
            _pipe.Dispose();
            _thread.Join();
        }
    }

    private static void WriteTrailer(Span<byte> trailer, Trailer t, uint crc)
    {
        BinaryPrimitives.WriteInt64BigEndian(trailer, t.DataBytes);
        BinaryPrimitives.WriteInt32BigEndian(trailer[8..], t.PageSize);
        BinaryPrimitives.WriteUInt16BigEndian(trailer[12..], (ushort)t.Major);
        BinaryPrimitives.WriteUInt16BigEndian(trailer[14..], (ushort)t.Minor);
        BinaryPrimitives.WriteUInt16BigEndian(trailer[16..], (ushort)t.Patch);
        trailer[18] = 0;
        trailer[19] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(trailer[20..], Crc32C.Update(crc, trailer[..20]));
        Magic.CopyTo(trailer[24..]);
    }

    /// <summary>
    /// Checks a received file checkpoint: its trailer, its length, and the CRC over every byte.
    /// Throws <see cref="InvalidDataException"/> on a file cut short or altered.
    /// </summary>
    public static Trailer Verify(string file)
    {
        using var f = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var total = f.Length;
        if (total < TrailerBytes)
            throw new InvalidDataException($"checkpoint damaged: {total} bytes, shorter than its trailer");
        var trailer = new byte[TrailerBytes];
        RandomAccess.Read(f.SafeFileHandle, trailer, total - TrailerBytes);
        if (!trailer.AsSpan(24).SequenceEqual(Magic))
            throw new InvalidDataException("checkpoint damaged: neither a key-value dump nor a database file (no trailer; cut short?)");
        var t = new Trailer(BinaryPrimitives.ReadInt64BigEndian(trailer), BinaryPrimitives.ReadInt32BigEndian(trailer.AsSpan(8)),
            BinaryPrimitives.ReadUInt16BigEndian(trailer.AsSpan(12)), BinaryPrimitives.ReadUInt16BigEndian(trailer.AsSpan(14)),
            BinaryPrimitives.ReadUInt16BigEndian(trailer.AsSpan(16)));
        if (t.DataBytes != total - TrailerBytes || t.PageSize < 512 || t.DataBytes % t.PageSize != 0 || t.DataBytes < 2L * t.PageSize)
            throw new InvalidDataException($"checkpoint damaged: {total} bytes with a trailer announcing {t.DataBytes} bytes in pages of {t.PageSize}");
        var buffer = new byte[PumpBytes];
        uint crc = 0;
        long left = t.DataBytes + 20;
        long offset = 0;
        while (left > 0)
        {
            var n = RandomAccess.Read(f.SafeFileHandle, buffer.AsSpan(0, (int)Math.Min(buffer.Length, left)), offset);
            if (n == 0) throw new InvalidDataException("checkpoint damaged: shorter than a moment ago");
            crc = Crc32C.Update(crc, buffer.AsSpan(0, n));
            offset += n;
            left -= n;
        }
        if (BinaryPrimitives.ReadUInt32BigEndian(trailer.AsSpan(20)) != crc)
            throw new InvalidDataException("checkpoint damaged: the CRC of the database file differs");
        return t;
    }

    /// <summary>
    /// Copies a file checkpoint from <paramref name="source"/> (its first <paramref name="head"/>
    /// bytes already read) into <paramref name="file"/>, trailer included, and syncs it.
    /// </summary>
    public static async Task ReceiveAsync(ReadOnlyMemory<byte> head, Stream source, string file, CancellationToken cancellationToken)
    {
        await using var f = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None);
        await f.WriteAsync(head, cancellationToken).ConfigureAwait(false);
        await source.CopyToAsync(f, PumpBytes, cancellationToken).ConfigureAwait(false);
        f.Flush(flushToDisk: true);
    }
}
