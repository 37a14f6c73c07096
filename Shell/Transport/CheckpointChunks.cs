using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Raft.Shell.IO;

namespace Raft.Shell.Transport;

/// <summary>
/// A persistent state machine's checkpoint on a snapshot connection: its size is not known when it
/// starts, so it travels as chunks, each a 4-byte big-endian length and that many bytes, ended by
/// a zero length. The payload length before them is <see cref="StreamedMarker"/>.
/// </summary>
internal static class CheckpointChunks
{
    /// <summary>The payload length that announces a chunked checkpoint instead of a payload.</summary>
    public const ulong StreamedMarker = ulong.MaxValue;

    /// <summary>The largest chunk either side writes or accepts.</summary>
    public const int MaxChunk = 1024 * 1024;

    /// <summary>
    /// Receives the chunks into <paramref name="path"/>: written to a temporary file beside it,
    /// fsynced, renamed, and the directory fsynced, so that once raft has the message the
    /// checkpoint survives a crash (the restart installs it). Returns the checkpoint's size, or the
    /// reason it was refused.
    /// </summary>
    public static async Task<(long Bytes, string? Error)> ReceiveToFileAsync(
        PipeReader reader, string path, long maxBytes, CancellationTokenSource idle, TimeSpan readTimeout)
    {
        var dir = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(dir);
        var tmp = path + ".tmp";
        long total = 0;
        try
        {
            await using (var file = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                var prefix = new byte[MessageFramesLength];
                while (true)
                {
                    idle.CancelAfter(readTimeout);
                    var head = await reader.ReadAtLeastAsync(MessageFramesLength, idle.Token).ConfigureAwait(false);
                    if (head.Buffer.Length < MessageFramesLength)
                        return (total, $"connection closed after {total} checkpoint bytes, before the end");
                    head.Buffer.Slice(0, MessageFramesLength).CopyTo(prefix);
                    reader.AdvanceTo(head.Buffer.GetPosition(MessageFramesLength));
                    var length = BinaryPrimitives.ReadUInt32BigEndian(prefix);
                    if (length == 0)
                        break;
                    if (length > MaxChunk)
                        return (total, $"checkpoint chunk of {length} bytes exceeds {MaxChunk}");
                    if (total + length > maxBytes)
                        return (total, $"checkpoint exceeds the limit of {maxBytes} bytes");
                    var left = (long)length;
                    while (left > 0)
                    {
                        idle.CancelAfter(readTimeout);
                        var result = await reader.ReadAsync(idle.Token).ConfigureAwait(false);
                        var take = Math.Min(result.Buffer.Length, left);
                        foreach (var segment in result.Buffer.Slice(0, take))
                            await file.WriteAsync(segment, idle.Token).ConfigureAwait(false);
                        reader.AdvanceTo(result.Buffer.GetPosition(take));
                        left -= take;
                        if (left > 0 && result.IsCompleted)
                            return (total, "connection closed in the middle of a checkpoint chunk");
                    }
                    total += length;
                }
                await file.FlushAsync(idle.Token).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
            Native.FsyncDirectory(dir);
            return (total, null);
        }
        finally
        {
            if (File.Exists(tmp))
                File.Delete(tmp);
        }
    }

    private const int MessageFramesLength = 4;

    /// <summary>
    /// What a checkpoint writes to: each write goes out as one or more chunks, each with the write
    /// timeout; <see cref="CompleteAsync"/> writes the end.
    /// </summary>
    public sealed class WriteStream(Stream inner, CancellationTokenSource timeout, TimeSpan writeTimeout) : Stream
    {
        public long Written { get; private set; }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Written; set => throw new NotSupportedException(); }

        public override void Flush() { }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) =>
            WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var prefix = new byte[MessageFramesLength];
            while (!buffer.IsEmpty)
            {
                var chunk = buffer[..Math.Min(buffer.Length, MaxChunk)];
                BinaryPrimitives.WriteUInt32BigEndian(prefix, (uint)chunk.Length);
                timeout.CancelAfter(writeTimeout);
                await inner.WriteAsync(prefix, timeout.Token).ConfigureAwait(false);
                await inner.WriteAsync(chunk, timeout.Token).ConfigureAwait(false);
                Written += chunk.Length;
                buffer = buffer[chunk.Length..];
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        /// <summary>Writes the zero-length chunk that ends the checkpoint.</summary>
        public async Task CompleteAsync()
        {
            timeout.CancelAfter(writeTimeout);
            await inner.WriteAsync(new byte[MessageFramesLength], timeout.Token).ConfigureAwait(false);
        }
    }
}
