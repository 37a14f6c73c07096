using Microsoft.Win32.SafeHandles;

namespace Raft.Shell.IO;

/// <summary>
/// An open file holding an exclusive open-file-description lock (etcd's fileutil.LockedFile).
/// Closing it releases the lock. Reads and writes are positional; the file has no cursor.
/// </summary>
internal sealed class LockedFile : IDisposable
{
    private LockedFile(SafeFileHandle handle, string path)
    {
        Handle = handle;
        Path = path;
    }

    /// <summary>The OS handle.</summary>
    public SafeFileHandle Handle { get; }

    /// <summary>The path the file was opened (or last renamed) at.</summary>
    public string Path { get; private set; }

    /// <summary>Current length of the file in bytes.</summary>
    public long Length => RandomAccess.GetLength(Handle);

    /// <summary>
    /// Opens (or creates, per <paramref name="mode"/>) and locks a file without waiting.
    /// </summary>
    /// <returns>The locked file, or null when another open of it holds the lock.</returns>
    public static LockedFile? TryOpen(string path, FileMode mode, FileAccess access)
    {
        // FileShare.ReadWrite: the exclusion we want is the fcntl lock below, which works across
        // processes and with etcd itself; .NET's own flock-based sharing does neither.
        var handle = File.OpenHandle(path, mode, access, FileShare.ReadWrite | FileShare.Delete);
        try
        {
            // etcd's PrivateFileMode: only the owner reads the log.
            if (mode is not FileMode.Open && !OperatingSystem.IsWindows()) File.SetUnixFileMode(handle, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            if (Native.TryLock(handle, path)) return new LockedFile(handle, path);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
        handle.Dispose();
        return null;
    }

    /// <summary>
    /// Like <see cref="TryOpen(string, FileMode, FileAccess)"/>, retrying for up to
    /// <paramref name="wait"/> while the lock is held. A process that forks copies its open files
    /// until the child execs, so a lock just released in this process can stay held for a moment.
    /// </summary>
    public static LockedFile? TryOpen(string path, FileMode mode, FileAccess access, TimeSpan wait)
    {
        var deadline = Environment.TickCount64 + (long)wait.TotalMilliseconds;
        while (true)
        {
            var f = TryOpen(path, mode, access);
            if (f is not null || Environment.TickCount64 >= deadline) return f;
            Thread.Sleep(10);
        }
    }

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/>.</summary>
    public void Write(ReadOnlySpan<byte> data, long offset) => RandomAccess.Write(Handle, data, offset);

    /// <summary>Reads up to <paramref name="buffer"/>'s length at <paramref name="offset"/>; returns the count read.</summary>
    public int Read(Span<byte> buffer, long offset) => RandomAccess.Read(Handle, buffer, offset);

    /// <summary>Sets the file's length (truncating or extending with zeros).</summary>
    public void SetLength(long length) => RandomAccess.SetLength(Handle, length);

    /// <summary>Extends the file to <paramref name="size"/> bytes, allocated on disk where the file system can.</summary>
    public void Preallocate(long size) => Native.Preallocate(Handle, Path, size);

    /// <summary>fdatasync: the written data reaches the device before this returns.</summary>
    public void Fdatasync() => Native.Fdatasync(Handle, Path);

    /// <summary>fsync: data and all metadata reach the device before this returns.</summary>
    public void Fsync() => RandomAccess.FlushToDisk(Handle);

    /// <summary>Renames the file, keeping it open and locked.</summary>
    public void MoveTo(string newPath)
    {
        File.Move(Path, newPath, overwrite: true);
        Path = newPath;
    }

    /// <summary>Records that the file's directory was renamed, so <see cref="Path"/> names it again.</summary>
    internal void Relocated(string newPath) => Path = newPath;

    /// <summary>Closes the file, releasing the lock.</summary>
    public void Dispose() => Handle.Dispose();
}
