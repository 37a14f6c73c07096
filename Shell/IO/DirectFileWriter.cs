using System.Runtime.InteropServices;

namespace Raft.Shell.IO;

/// <summary>
/// Writes a new file with O_DIRECT, for files of hundreds of megabytes written once and then only
/// read at start-up (snapshots): the bytes go to the device from an aligned buffer instead of being
/// copied into the page cache, which costs as much CPU as producing them, and the closing fsync does
/// not have to push a burst of dirty pages out ahead of the WAL's own fsyncs. Where O_DIRECT is not
/// available the file is written through the page cache as usual.
/// </summary>
internal sealed unsafe class DirectFileWriter : IDisposable
{
    // O_DIRECT wants buffer addresses, offsets and lengths aligned to the device's block size.
    private const int Alignment = 4096;
    private const int BufferSize = 4 << 20;

    private readonly IDiskFile _file;
    private readonly bool _direct;
    private byte* _buffer;
    private int _filled;
    private long _flushed;

    /// <summary>Creates or truncates <paramref name="path"/>.</summary>
    public DirectFileWriter(string path)
        : this(NativeFileSystem.Instance, path)
    {
    }

    /// <summary>Creates or truncates <paramref name="path"/> on <paramref name="fs"/>.</summary>
    internal DirectFileWriter(IFileSystem fs, string path)
    {
        _file = fs.CreateForWrite(path, tryDirect: true, out _direct);
        if (_direct)
            _buffer = (byte*)NativeMemory.AlignedAlloc(BufferSize, Alignment);
    }

    /// <summary>Whether the file is written with O_DIRECT.</summary>
    public bool IsDirect => _direct;

    /// <summary>Appends <paramref name="bytes"/>.</summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        if (!_direct)
        {
            _file.Write(bytes, _flushed);
            _flushed += bytes.Length;
            return;
        }
        while (!bytes.IsEmpty)
        {
            var n = Math.Min(bytes.Length, BufferSize - _filled);
            bytes[..n].CopyTo(new Span<byte>(_buffer + _filled, n));
            _filled += n;
            bytes = bytes[n..];
            if (_filled == BufferSize)
                FlushBuffer(BufferSize);
        }
    }

    /// <summary>Writes what is buffered, sets the file's exact length and fsyncs it.</summary>
    public void Complete()
    {
        if (_direct && _filled > 0)
        {
            // The last block goes out padded with zeros; the file is then cut to its real length.
            var length = _flushed + _filled;
            var padded = (_filled + Alignment - 1) / Alignment * Alignment;
            new Span<byte>(_buffer + _filled, padded - _filled).Clear();
            FlushBuffer(padded);
            _file.SetLength(length);
            _flushed = length;
        }
        _file.Fsync();
    }

    private void FlushBuffer(int length)
    {
        _file.Write(new ReadOnlySpan<byte>(_buffer, length), _flushed);
        _flushed += length;
        _filled = 0;
    }

    /// <summary>Closes the file (without fsync unless <see cref="Complete"/> ran).</summary>
    public void Dispose()
    {
        _file.Dispose();
        if (_buffer is not null)
        {
            NativeMemory.AlignedFree(_buffer);
            _buffer = null;
        }
    }
}
