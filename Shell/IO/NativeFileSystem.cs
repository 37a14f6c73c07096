using Microsoft.Win32.SafeHandles;

namespace Raft.Shell.IO;

/// <summary>The operating system's file system: what every node uses outside tests.</summary>
internal sealed class NativeFileSystem : IFileSystem
{
    /// <summary>The one instance.</summary>
    public static readonly NativeFileSystem Instance = new();

    private NativeFileSystem()
    {
    }

    public IDiskFile? TryOpenLocked(string path, FileMode mode, FileAccess access)
    {
        // FileShare.ReadWrite: the exclusion we want is the fcntl lock below, which works across
        // processes and with etcd itself; .NET's own flock-based sharing does neither.
        var handle = File.OpenHandle(path, mode, access, FileShare.ReadWrite | FileShare.Delete);
        try
        {
            // etcd's PrivateFileMode: only the owner reads the log.
            if (mode is not FileMode.Open && !OperatingSystem.IsWindows()) File.SetUnixFileMode(handle, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            if (Native.TryLock(handle, path)) return new NativeFile(handle, path);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
        handle.Dispose();
        return null;
    }

    public IDiskFile OpenRead(string path) =>
        new NativeFile(File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete), path);

    public IDiskFile CreateForWrite(string path, bool tryDirect, out bool direct)
    {
        var handle = tryDirect ? Native.TryCreateDirect(path) : null;
        direct = handle is not null;
        return new NativeFile(handle ?? File.OpenHandle(path, FileMode.Create, FileAccess.Write, FileShare.None), path);
    }

    public bool FileExists(string path) => File.Exists(path);

    public bool DirectoryExists(string path) => Directory.Exists(path);

    public void CreateDirectory(string path, bool ownerOnly = false)
    {
        if (ownerOnly && !OperatingSystem.IsWindows())
            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        else
            Directory.CreateDirectory(path);
    }

    public void DeleteDirectory(string path) => Directory.Delete(path, recursive: true);

    public void MoveDirectory(string from, string to) => Directory.Move(from, to);

    public void MoveFile(string from, string to) => File.Move(from, to, overwrite: true);

    public void DeleteFile(string path) => File.Delete(path);

    public string[] ListFiles(string dir) => Directory.GetFiles(dir);

    public byte[] ReadAllBytes(string path) => File.ReadAllBytes(path);

    public void FsyncDirectory(string path) => Native.FsyncDirectory(path);

    private sealed class NativeFile(SafeFileHandle handle, string path) : IDiskFile
    {
        public long Length => RandomAccess.GetLength(handle);

        public int Read(Span<byte> buffer, long offset) => RandomAccess.Read(handle, buffer, offset);

        public void Write(ReadOnlySpan<byte> data, long offset) => RandomAccess.Write(handle, data, offset);

        public void SetLength(long length) => RandomAccess.SetLength(handle, length);

        public void Preallocate(long size) => Native.Preallocate(handle, path, size);

        public void Fdatasync() => Native.Fdatasync(handle, path);

        public void Fsync() => RandomAccess.FlushToDisk(handle);

        public void Dispose() => handle.Dispose();
    }
}
