using System.Buffers.Binary;
using System.IO.Compression;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Raft.Interop.Wire;

namespace Raft.Kv.Grpc;

/// <summary>
/// A gRPC request body that hands each length-prefixed message on only after
/// <see cref="ProtobufInput.Check"/> has walked it by the method's request descriptor: Google.Protobuf's
/// parser, which Grpc.AspNetCore calls on the raw bytes, takes a nested length near int.MaxValue without
/// an error and then reads past the input or allocates what a later length announces (2 GB from a few
/// dozen bytes). A malformed message fails the call with InvalidArgument before it is parsed.
/// </summary>
/// <remarks>
/// Holds at most one message (bounded by the receive limit). A message announcing more than the
/// limit is passed on unchecked, as are the bytes after it: gRPC refuses it by its prefix with
/// ResourceExhausted and reads no further.
/// </remarks>
internal sealed class CheckedGrpcRequestStream(Stream inner, MessageDescriptor request, int maxMessageBytes, bool gzip) : Stream
{
    private const int HeaderSize = 5;
    // Sized for a small request (a put of a 256-byte value is under 300 bytes): one of these is made
    // for every call, and a 16 KiB buffer was most of a put's allocation. A larger message grows it
    // to its size once its prefix has arrived.
    private byte[] _buffer = new byte[512];
    // [_start, _checkedEnd): checked bytes to hand out; [_checkedEnd, _end): read, not yet checked.
    private int _start;
    private int _checkedEnd;
    private int _end;
    private bool _unchecked;
    private bool _eof;

    public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (_checkedEnd > _start)
            {
                var n = Math.Min(destination.Length, _checkedEnd - _start);
                _buffer.AsMemory(_start, n).CopyTo(destination);
                _start += n;
                return n;
            }
            if (_unchecked) return await inner.ReadAsync(destination, cancellationToken).ConfigureAwait(false);
            if (TryCheckMessage()) continue;
            if (_eof)
            {
                // A message cut short: gRPC reports it as it would.
                if (_end > _start)
                {
                    _checkedEnd = _end;
                    continue;
                }
                return 0;
            }
            await FillAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // Checks the message at _start when it is all there; true when it moved _checkedEnd.
    private bool TryCheckMessage()
    {
        var available = _end - _start;
        if (available < HeaderSize) return false;
        var length = BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(_start + 1, 4));
        if (length > (uint)maxMessageBytes)
        {
            _unchecked = true;
            _checkedEnd = _end;
            return true;
        }
        if (available < HeaderSize + (int)length) return false;
        var payload = _buffer.AsSpan(_start + HeaderSize, (int)length);
        var problem = _buffer[_start] == 0 ? ProtobufInput.Check(request, payload) : CheckCompressed(payload);
        if (problem is not null)
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"grpc: error unmarshalling request: {request.FullName}: {problem}"));
        _checkedEnd = _start + HeaderSize + (int)length;
        return true;
    }

    // A compressed message is checked once inflated (within the receive limit, as gRPC inflates it).
    private string? CheckCompressed(ReadOnlySpan<byte> payload)
    {
        if (!gzip) return null;
        using var inflate = new GZipStream(new MemoryStream(payload.ToArray()), CompressionMode.Decompress);
        var plain = new byte[maxMessageBytes + 1];
        var n = 0;
        try
        {
            int read;
            while (n < plain.Length && (read = inflate.Read(plain, n, plain.Length - n)) > 0) n += read;
        }
        catch (InvalidDataException)
        {
            // Not gzip: gRPC refuses it itself.
            return null;
        }
        return n > maxMessageBytes ? null : ProtobufInput.Check(request, plain.AsSpan(0, n));
    }

    private async Task FillAsync(CancellationToken ct)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _checkedEnd -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length)
        {
            // Grow to the message's size (known once its prefix is here), never past one message.
            var need = _end >= HeaderSize ? HeaderSize + (int)BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(1, 4)) : _buffer.Length * 2;
            Array.Resize(ref _buffer, Math.Max(need, Math.Min(_buffer.Length * 2, HeaderSize + maxMessageBytes)));
        }
        var n = await inner.ReadAsync(_buffer.AsMemory(_end), ct).ConfigureAwait(false);
        if (n == 0) _eof = true;
        _end += n;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
