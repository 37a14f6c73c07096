using System.Buffers.Binary;
using System.Security.Cryptography;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Backend;

public static partial class KvBackends
{
    /// <summary>
    /// Checks a file saved from Maintenance.Snapshot (<c>etcdctl snapshot save</c>): whole 512-byte
    /// sectors of checkpoint and padding, then the SHA-256 of them, as etcdctl's restore checks a
    /// bbolt file. Returns the length of the data before the digest.
    /// </summary>
    /// <exception cref="InvalidDataException">The length or the digest is wrong.</exception>
    public static async Task<long> VerifySnapshotFileAsync(string file, CancellationToken cancellationToken)
    {
        const int DigestBytes = 32;
        await using var f = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var dataLength = f.Length - DigestBytes;
        if (dataLength <= 0 || dataLength % 512 != 0)
            throw new InvalidDataException($"{file}: {f.Length} bytes is not whole 512-byte sectors and a 32-byte SHA-256 (not a saved snapshot, or cut short)");
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        var left = dataLength;
        while (left > 0)
        {
            var n = await f.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), cancellationToken).ConfigureAwait(false);
            if (n == 0) throw new InvalidDataException($"{file}: shorter than it was a moment ago");
            sha.AppendData(buffer, 0, n);
            left -= n;
        }
        var expected = new byte[DigestBytes];
        await f.ReadExactlyAsync(expected, cancellationToken).ConfigureAwait(false);
        if (!sha.GetHashAndReset().AsSpan().SequenceEqual(expected))
            throw new InvalidDataException($"{file}: the SHA-256 at its end does not match its data (damaged)");
        return dataLength;
    }

    /// <summary>
    /// Restores a member's store (<see cref="MemberStoreDirectory"/>) from a verified snapshot file
    /// (<see cref="VerifySnapshotFileAsync"/>) and returns the Raft index the store holds (its
    /// consistent index, at least 1): the index a restored member's log starts after.
    /// </summary>
    public static async Task<ulong> RestoreMemberStoreAsync(string dataDir, string file, CancellationToken cancellationToken)
    {
        var dataLength = await VerifySnapshotFileAsync(file, cancellationToken).ConfigureAwait(false);
        var directory = MemberStoreDirectory(dataDir);
        await using (var f = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan))
        {
            // The digest is not part of the checkpoint: read up to it.
            await using var data = new BoundedStream(f, dataLength);
            await RestoreAsync(directory, data, cancellationToken, zeroPadding: true).ConfigureAwait(false);
        }
        using var backend = Open(directory);
        using var reader = backend.OpenReader();
        var held = reader.Get(KvBucket.Meta, MvccStore.ConsistentIndexKey) is { Length: 8 } ci ? BinaryPrimitives.ReadUInt64BigEndian(ci) : 0;
        if (held > 0) return held;
        // A store that applied nothing: its log starts after index 1, as etcd's restore of one member's.
        using var batch = backend.BeginBatch();
        var one = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(one, 1);
        batch.Put(KvBucket.Meta, MvccStore.ConsistentIndexKey, one);
        batch.Commit();
        return 1;
    }

    /// <summary>The first <c>length</c> bytes of a stream, read forward only.</summary>
    private sealed class BoundedStream(Stream inner, long length) : Stream
    {
        private readonly long _length = length;
        private long _left = length;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => _length;
        public override long Position { get => _length - _left; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_left == 0) return 0;
            var n = inner.Read(buffer[..(int)Math.Min(buffer.Length, _left)]);
            _left -= n;
            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_left == 0) return 0;
            var n = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _left)], cancellationToken).ConfigureAwait(false);
            _left -= n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
