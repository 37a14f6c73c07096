using System.Buffers.Binary;
using Raft.Shell.Wal;

namespace Raft.Kv.Backend;

/// <summary>
/// The checkpoint stream: a logical dump of every bucket, independent of the database's file
/// format (so members whose LMDB builds differ can exchange it). Layout: the 8-byte magic
/// <c>RAFTKVC1</c>; per pair, the bucket (1 byte), key length and value length (4 bytes each,
/// big-endian), key, value; then the end marker (bucket 0), the pair count (8 bytes) and the
/// CRC-32C of every byte before the CRC (4 bytes). A stream cut short or altered fails the count or
/// the CRC, and restore then leaves the old database in place.
/// </summary>
internal static class BackendCheckpoint
{
    private static readonly byte[] Magic = "RAFTKVC1"u8.ToArray();

    /// <summary>True when <paramref name="head"/> starts with the dump's magic.</summary>
    public static bool HasMagic(ReadOnlySpan<byte> head) => head.StartsWith(Magic);

    /// <summary>Bytes of the magic at the start of a dump.</summary>
    public static int MagicBytes => Magic.Length;

    /// <summary>The largest value a checkpoint may carry (a guard against a corrupt length).</summary>
    public const int MaxValueBytes = 1 << 30;

    /// <summary>The bytes of a checkpoint with no pairs: the magic, the end marker with the count, the CRC.</summary>
    private static readonly long EmptyBytes = Magic.Length + 9 + 4;

    /// <summary>
    /// Writes every bucket of <paramref name="reader"/>'s view as a checkpoint: the state of one
    /// commit, whatever is committed meanwhile.
    /// </summary>
    public static async Task WriteAsync(IKvBackendReader reader, Stream destination, CancellationToken cancellationToken)
    {
        var writer = new Writer(destination);
        foreach (var bucket in Enum.GetValues<KvBucket>())
            foreach (var (key, value) in reader.Scan(bucket, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty))
                await writer.AddAsync(bucket, key, value, cancellationToken).ConfigureAwait(false);
        await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The length of what <see cref="WriteAsync"/> writes for <paramref name="reader"/>'s view, found
    /// by a pass over it (etcd's snapshot stream announces its remaining bytes before the first).
    /// </summary>
    public static long LengthOf(IKvBackendReader reader)
    {
        var length = EmptyBytes;
        foreach (var bucket in Enum.GetValues<KvBucket>())
            foreach (var (key, value) in reader.Scan(bucket, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty))
                length += 9 + key.Length + value.Length;
        return length;
    }

    /// <summary>Buffers pairs and writes them to the destination in large pieces.</summary>
    public sealed class Writer(Stream destination)
    {
        private const int FlushBytes = 1 << 20;
        private readonly MemoryStream _buffer = new(FlushBytes + 4096);
        private uint _crc;
        private ulong _count;
        private bool _started;

        public async ValueTask AddAsync(KvBucket bucket, byte[] key, byte[] value, CancellationToken cancellationToken)
        {
            Start();
            Span<byte> head = stackalloc byte[9];
            head[0] = (byte)bucket;
            BinaryPrimitives.WriteUInt32BigEndian(head[1..], (uint)key.Length);
            BinaryPrimitives.WriteUInt32BigEndian(head[5..], (uint)value.Length);
            Append(head);
            Append(key);
            Append(value);
            _count++;
            if (_buffer.Length >= FlushBytes) await FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        public async Task CompleteAsync(CancellationToken cancellationToken)
        {
            Start();
            Span<byte> tail = stackalloc byte[9];
            tail[0] = 0;
            BinaryPrimitives.WriteUInt64BigEndian(tail[1..], _count);
            Append(tail);
            Span<byte> crc = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(crc, _crc);
            _buffer.Write(crc);
            await FlushAsync(cancellationToken).ConfigureAwait(false);
            await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        private void Start()
        {
            if (_started) return;
            _started = true;
            Append(Magic);
        }

        private void Append(ReadOnlySpan<byte> data)
        {
            _crc = Crc32C.Update(_crc, data);
            _buffer.Write(data);
        }

        private async ValueTask FlushAsync(CancellationToken cancellationToken)
        {
            await destination.WriteAsync(_buffer.GetBuffer().AsMemory(0, (int)_buffer.Length), cancellationToken).ConfigureAwait(false);
            _buffer.SetLength(0);
        }
    }

    /// <summary>
    /// Reads the pairs of a checkpoint in order; throws <see cref="InvalidDataException"/> on damage.
    /// With <paramref name="zeroPadding"/>, zero bytes may follow the CRC (a snapshot file pads the
    /// checkpoint to a multiple of 512 bytes, as etcdctl expects of a database file); any other
    /// byte there is damage. With <paramref name="magicRead"/>, the caller has read the magic already.
    /// </summary>
    public static async IAsyncEnumerable<(KvBucket Bucket, byte[] Key, byte[] Value)> ReadAsync(
        Stream source, int maxKeyBytes, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken,
        bool zeroPadding = false, bool magicRead = false)
    {
        var input = new BufferedStream(source, 1 << 20);
        uint crc = 0;
        var magic = Magic.ToArray();
        if (!magicRead) await ReadExactlyAsync(input, magic, cancellationToken).ConfigureAwait(false);
        if (!magic.AsSpan().SequenceEqual(Magic)) throw new InvalidDataException("not a key-value checkpoint (bad magic)");
        crc = Crc32C.Update(crc, magic);
        var head = new byte[9];
        ulong count = 0;
        while (true)
        {
            await ReadExactlyAsync(input, head, cancellationToken).ConfigureAwait(false);
            crc = Crc32C.Update(crc, head);
            if (head[0] == 0)
            {
                var expected = BinaryPrimitives.ReadUInt64BigEndian(head.AsSpan(1));
                var crcBytes = new byte[4];
                await ReadExactlyAsync(input, crcBytes, cancellationToken).ConfigureAwait(false);
                if (expected != count || BinaryPrimitives.ReadUInt32BigEndian(crcBytes) != crc)
                    throw new InvalidDataException($"checkpoint damaged: {count} pairs read, {expected} announced, CRC {(BinaryPrimitives.ReadUInt32BigEndian(crcBytes) == crc ? "matches" : "differs")}");
                var rest = new byte[4096];
                int read;
                while ((read = await input.ReadAsync(rest, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    if (!zeroPadding || rest.AsSpan(0, read).ContainsAnyExcept((byte)0))
                        throw new InvalidDataException("checkpoint damaged: bytes after the end marker");
                }
                yield break;
            }
            if (!Enum.IsDefined((KvBucket)head[0])) throw new InvalidDataException($"checkpoint damaged: unknown bucket {head[0]}");
            var keyLength = BinaryPrimitives.ReadUInt32BigEndian(head.AsSpan(1));
            var valueLength = BinaryPrimitives.ReadUInt32BigEndian(head.AsSpan(5));
            if (keyLength == 0 || keyLength > maxKeyBytes || valueLength > MaxValueBytes)
                throw new InvalidDataException($"checkpoint damaged: key of {keyLength} bytes, value of {valueLength} bytes");
            var key = new byte[keyLength];
            var value = new byte[valueLength];
            await ReadExactlyAsync(input, key, cancellationToken).ConfigureAwait(false);
            await ReadExactlyAsync(input, value, cancellationToken).ConfigureAwait(false);
            crc = Crc32C.Update(Crc32C.Update(crc, key), value);
            count++;
            yield return ((KvBucket)head[0], key, value);
        }
    }

    private static async ValueTask ReadExactlyAsync(Stream input, byte[] buffer, CancellationToken cancellationToken)
    {
        try
        {
            await input.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException("checkpoint damaged: it ends before its end marker");
        }
    }
}
