using Raft.Shell.IO;

namespace Raft.Shell.Tests.Fuzz;

/// <summary>
/// A read-only file system of whole files held in memory: the WAL and snap decoders read a fuzzed
/// file through it exactly as they read a disk, without a million writes to a real one.
/// </summary>
internal sealed class MemoryFiles(IReadOnlyDictionary<string, byte[]> files) : IFileSystem
{
    public IDiskFile? TryOpenLocked(string path, FileMode mode, FileAccess access) => OpenRead(path);

    public IDiskFile OpenRead(string path) =>
        files.TryGetValue(path, out var b) ? new MemoryFile(b) : throw new FileNotFoundException("no such file", path);

    public IDiskFile CreateForWrite(string path, bool tryDirect, out bool direct) => throw new NotSupportedException("read-only");

    public bool FileExists(string path) => files.ContainsKey(path);

    public bool DirectoryExists(string path) => files.Keys.Any(k => Path.GetDirectoryName(k) == path);

    public void CreateDirectory(string path, bool ownerOnly = false) => throw new NotSupportedException("read-only");

    public void DeleteDirectory(string path) => throw new NotSupportedException("read-only");

    public void MoveDirectory(string from, string to) => throw new NotSupportedException("read-only");

    public void MoveFile(string from, string to) => throw new NotSupportedException("read-only");

    public void DeleteFile(string path) => throw new NotSupportedException("read-only");

    public string[] ListFiles(string dir) => [.. files.Keys.Where(k => Path.GetDirectoryName(k) == dir)];

    public byte[] ReadAllBytes(string path) =>
        files.TryGetValue(path, out var b) ? b : throw new FileNotFoundException("no such file", path);

    public void FsyncDirectory(string path)
    {
    }

    private sealed class MemoryFile(byte[] bytes) : IDiskFile
    {
        public long Length => bytes.Length;

        public int Read(Span<byte> buffer, long offset)
        {
            if (offset >= bytes.Length) return 0;
            var n = (int)Math.Min(buffer.Length, bytes.Length - offset);
            bytes.AsSpan((int)offset, n).CopyTo(buffer);
            return n;
        }

        public void Write(ReadOnlySpan<byte> data, long offset) => throw new NotSupportedException("read-only");

        public void SetLength(long length) => throw new NotSupportedException("read-only");

        public void Preallocate(long size) => throw new NotSupportedException("read-only");

        public void Fdatasync()
        {
        }

        public void Fsync()
        {
        }

        public void Dispose()
        {
        }
    }
}
