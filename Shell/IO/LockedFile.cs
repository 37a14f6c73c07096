namespace Raft.Shell.IO;

/// <summary>
/// An open file holding an exclusive open-file-description lock (etcd's fileutil.LockedFile).
/// Closing it releases the lock. Reads and writes are positional; the file has no cursor.
/// </summary>
internal sealed class LockedFile : IDisposable
{
    private readonly IFileSystem fs;

    private LockedFile(IFileSystem fs, IDiskFile file, string path)
    {
        this.fs = fs;
        File = file;
        Path = path;
    }

    /// <summary>The open file.</summary>
    internal IDiskFile File { get; }

    /// <summary>The path the file was opened (or last renamed) at.</summary>
    public string Path { get; private set; }

    /// <summary>Current length of the file in bytes.</summary>
    public long Length => File.Length;

    /// <summary>
    /// Opens (or creates, per <paramref name="mode"/>) and locks a file without waiting.
    /// </summary>
    /// <returns>The locked file, or null when another open of it holds the lock.</returns>
    public static LockedFile? TryOpen(string path, FileMode mode, FileAccess access) =>
        TryOpen(NativeFileSystem.Instance, path, mode, access);

    /// <summary>
    /// Like <see cref="TryOpen(string, FileMode, FileAccess)"/>, retrying for up to
    /// <paramref name="wait"/> while the lock is held. A process that forks copies its open files
    /// until the child execs, so a lock just released in this process can stay held for a moment.
    /// </summary>
    public static LockedFile? TryOpen(string path, FileMode mode, FileAccess access, TimeSpan wait) =>
        TryOpen(NativeFileSystem.Instance, path, mode, access, wait);

    /// <inheritdoc cref="TryOpen(string, FileMode, FileAccess)"/>
    internal static LockedFile? TryOpen(IFileSystem fs, string path, FileMode mode, FileAccess access) =>
        fs.TryOpenLocked(path, mode, access) is { } f ? new LockedFile(fs, f, path) : null;

    /// <inheritdoc cref="TryOpen(string, FileMode, FileAccess, TimeSpan)"/>
    internal static LockedFile? TryOpen(IFileSystem fs, string path, FileMode mode, FileAccess access, TimeSpan wait)
    {
        var deadline = Environment.TickCount64 + (long)wait.TotalMilliseconds;
        while (true)
        {
            var f = TryOpen(fs, path, mode, access);
            if (f is not null || Environment.TickCount64 >= deadline) return f;
            Thread.Sleep(10);
        }
    }

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/>.</summary>
    public void Write(ReadOnlySpan<byte> data, long offset) => File.Write(data, offset);

    /// <summary>Reads up to <paramref name="buffer"/>'s length at <paramref name="offset"/>; returns the count read.</summary>
    public int Read(Span<byte> buffer, long offset) => File.Read(buffer, offset);

    /// <summary>Sets the file's length (truncating or extending with zeros).</summary>
    public void SetLength(long length) => File.SetLength(length);

    /// <summary>Extends the file to <paramref name="size"/> bytes, allocated on disk where the file system can.</summary>
    public void Preallocate(long size) => File.Preallocate(size);

    /// <summary>fdatasync: the written data reaches the device before this returns.</summary>
    public void Fdatasync() => File.Fdatasync();

    /// <summary>fsync: data and all metadata reach the device before this returns.</summary>
    public void Fsync() => File.Fsync();

    /// <summary>Renames the file, keeping it open and locked.</summary>
    public void MoveTo(string newPath)
    {
        fs.MoveFile(Path, newPath);
        Path = newPath;
    }

    /// <summary>Records that the file's directory was renamed, so <see cref="Path"/> names it again.</summary>
    internal void Relocated(string newPath) => Path = newPath;

    /// <summary>Closes the file, releasing the lock.</summary>
    public void Dispose() => File.Dispose();
}
