using System.Security.Cryptography;
using Raft.Kv.Backend;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Http;

/// <summary>
/// etcd's Maintenance.Snapshot, shared by the gRPC service and the gateway: the member's store as a
/// checkpoint (the stream a lagging follower is sent, <see cref="BackendCheckpoint"/>) in chunks,
/// each with the bytes still to come, then etcd's trailer: one more message whose blob is the
/// SHA-256 of every byte before it.
/// </summary>
/// <remarks>
/// etcdctl 3.4 saves the stream as a file and refuses one whose length is not a multiple of 512
/// plus the 32 bytes of the digest (a bbolt file is whole pages): the checkpoint is padded with
/// zeros up to a multiple of 512, which <c>raft snapshot restore</c> accepts after the end marker.
/// </remarks>
internal static class MaintenanceSnapshot
{
    /// <summary>etcd's snapshotSendBufferSize: 32 KiB a message.</summary>
    public const int ChunkBytes = 32 * 1024;

    /// <summary>What etcdctl expects the data to be a multiple of (its hasChecksum).</summary>
    public const int Alignment = 512;

    /// <summary>Sends one message: the bytes still to come after this one, and the blob.</summary>
    public delegate Task SendChunk(ulong remainingBytes, ReadOnlyMemory<byte> blob, CancellationToken cancellationToken);

    /// <summary>Sends the store's checkpoint, padded, then the SHA-256 trailer.</summary>
    public static async Task SendAsync(MvccStore store, SendChunk send, CancellationToken cancellationToken)
    {
        using var view = store.OpenCommittedView();
        var length = BackendCheckpoint.LengthOf(view);
        var total = (length + Alignment - 1) / Alignment * Alignment;
        using var sink = new ChunkStream(total, send);
        await BackendCheckpoint.WriteAsync(view, sink, cancellationToken).ConfigureAwait(false);
        await sink.FinishAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Cuts what is written into chunks of <see cref="ChunkBytes"/>, hashing each as it is sent.</summary>
    private sealed class ChunkStream(long total, SendChunk send) : Stream
    {
        private readonly byte[] _chunk = new byte[ChunkBytes];
        private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private int _filled;
        private long _sent;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (!buffer.IsEmpty)
            {
                var n = Math.Min(buffer.Length, _chunk.Length - _filled);
                buffer.Span[..n].CopyTo(_chunk.AsSpan(_filled));
                _filled += n;
                buffer = buffer[n..];
                if (_filled == _chunk.Length) await SendFilledAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        /// <summary>Pads to the announced total with zeros, sends the rest, then the digest.</summary>
        public async Task FinishAsync(CancellationToken cancellationToken)
        {
            var padding = total - _sent - _filled;
            // The length was counted over the same view: anything else is a bug, not a client's problem.
            if (padding is < 0 or >= Alignment) throw new InvalidOperationException($"snapshot: {_sent + _filled} bytes written, {total} announced");
            await WriteAsync(new byte[padding], cancellationToken).ConfigureAwait(false);
            if (_filled > 0) await SendFilledAsync(cancellationToken).ConfigureAwait(false);
            await send(0, _sha.GetHashAndReset(), cancellationToken).ConfigureAwait(false);
        }

        private async Task SendFilledAsync(CancellationToken cancellationToken)
        {
            _sent += _filled;
            if (_sent > total) throw new InvalidOperationException($"snapshot: more than the {total} bytes announced");
            _sha.AppendData(_chunk, 0, _filled);
            // The sender copies the blob before it returns (a protobuf ByteString, a JSON line): the buffer is reused.
            await send((ulong)(total - _sent), _chunk.AsMemory(0, _filled), cancellationToken).ConfigureAwait(false);
            _filled = 0;
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("asynchronous writes only");

        protected override void Dispose(bool disposing)
        {
            if (disposing) _sha.Dispose();
            base.Dispose(disposing);
        }
    }
}
