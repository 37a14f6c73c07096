namespace Raft.Shell.IO;

/// <summary>
/// The file operations the WAL, the snapshotter and the storage make, and nothing else: the seam
/// under which tests put a disk that loses what was not synced at a power cut. The real one is
/// <see cref="NativeFileSystem"/>. Paths are absolute. Errors are the exceptions .NET's own file
/// calls throw (IOException and its subclasses, UnauthorizedAccessException).
/// </summary>
internal interface IFileSystem
{
    /// <summary>
    /// Opens (or creates, per <paramref name="mode"/>) a file for positional reads and writes and
    /// takes its exclusive lock without waiting; null when another open holds the lock.
    /// </summary>
    IDiskFile? TryOpenLocked(string path, FileMode mode, FileAccess access);

    /// <summary>Opens an existing file for reading, without a lock.</summary>
    IDiskFile OpenRead(string path);

    /// <summary>
    /// Creates or truncates a file to write once from start to end: with O_DIRECT where the
    /// platform offers it (<paramref name="direct"/> says whether it did), then writes must be
    /// 4096-byte aligned in offset and length except through <see cref="IDiskFile.SetLength"/>.
    /// </summary>
    IDiskFile CreateForWrite(string path, bool tryDirect, out bool direct);

    /// <summary>Whether a file exists at <paramref name="path"/>.</summary>
    bool FileExists(string path);

    /// <summary>Whether a directory exists at <paramref name="path"/>.</summary>
    bool DirectoryExists(string path);

    /// <summary>Creates the directory and any missing parents; owner-only permissions when <paramref name="ownerOnly"/>.</summary>
    void CreateDirectory(string path, bool ownerOnly = false);

    /// <summary>Removes a directory and everything in it.</summary>
    void DeleteDirectory(string path);

    /// <summary>Renames a directory; the target must not exist.</summary>
    void MoveDirectory(string from, string to);

    /// <summary>Renames a file, replacing any file at <paramref name="to"/>.</summary>
    void MoveFile(string from, string to);

    /// <summary>Removes a file; nothing happens when there is none.</summary>
    void DeleteFile(string path);

    /// <summary>The paths of the files (not directories) in <paramref name="dir"/>.</summary>
    string[] ListFiles(string dir);

    /// <summary>Reads a whole file.</summary>
    byte[] ReadAllBytes(string path);

    /// <summary>fsyncs a directory: creations, renames and removals of its entries become durable.</summary>
    void FsyncDirectory(string path);
}

/// <summary>An open file of an <see cref="IFileSystem"/>: positional, no cursor.</summary>
internal interface IDiskFile : IDisposable
{
    /// <summary>Current length in bytes.</summary>
    long Length { get; }

    /// <summary>Reads up to <paramref name="buffer"/>'s length at <paramref name="offset"/>; returns the count read (0 at the end).</summary>
    int Read(Span<byte> buffer, long offset);

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/>.</summary>
    void Write(ReadOnlySpan<byte> data, long offset);

    /// <summary>Sets the length, truncating or extending with zeros.</summary>
    void SetLength(long length);

    /// <summary>Extends the file to at least <paramref name="size"/> bytes of zeros, allocated where the file system can.</summary>
    void Preallocate(long size);

    /// <summary>fdatasync: the data written (and the length) is durable on return.</summary>
    void Fdatasync();

    /// <summary>fsync: data and all metadata are durable on return.</summary>
    void Fsync();
}
