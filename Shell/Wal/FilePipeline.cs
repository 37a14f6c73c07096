using Raft.Shell.IO;

namespace Raft.Shell.Wal;

/// <summary>
/// Prepares the next segment file in the background (etcd's filePipeline): a locked, preallocated
/// <c>0.tmp</c> or <c>1.tmp</c>, so that a cut only has to write a header and rename.
/// </summary>
internal sealed class FilePipeline : IDisposable
{
    private readonly IFileSystem fs;
    private readonly string dir;
    private readonly long size;
    private int count;
    private Task<LockedFile> next;

    public FilePipeline(IFileSystem fs, string dir, long size)
    {
        this.fs = fs;
        this.dir = dir;
        this.size = size;
        next = Task.Run(Allocate);
    }

    /// <summary>A fresh file for the next segment; the caller renames it before calling again.</summary>
    public LockedFile Open()
    {
        var file = next.GetAwaiter().GetResult();
        next = Task.Run(Allocate);
        return file;
    }

    private LockedFile Allocate()
    {
        // Alternate names so the file being prepared is never the one just handed out.
        var path = Path.Combine(dir, $"{count % 2}.tmp");
        // Truncate: a .tmp left by a crash may hold an old header.
        var f = LockedFile.TryOpen(fs, path, FileMode.Create, FileAccess.ReadWrite)
            ?? throw new WalException(WalErrorKind.Locked, "segment file being prepared is locked", path);
        try
        {
            f.Preallocate(size);
        }
        catch
        {
            f.Dispose();
            throw;
        }
        count++;
        return f;
    }

    /// <summary>Waits for the file being prepared and removes it.</summary>
    public void Dispose()
    {
        try
        {
            var f = next.GetAwaiter().GetResult();
            var path = f.Path;
            f.Dispose();
            fs.DeleteFile(path);
        }
        catch (Exception ex) when (ex is IOException or WalException or UnauthorizedAccessException)
        {
            // Nothing was handed out; a leftover .tmp is ignored by readers and truncated on reuse.
        }
    }
}
