using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Raft.Shell.IO;

namespace Raft.Shell.Wal;

/// <summary>Settings of a <see cref="Wal"/>.</summary>
internal sealed class WalOptions
{
    /// <summary>etcd's segment size: 64,000,000 bytes.</summary>
    public const long DefaultSegmentSizeBytes = 64 * 1000 * 1000;

    /// <summary>
    /// Size each segment is preallocated to; a Save that ends past it cuts a new segment. Keep
    /// etcd's default outside tests.
    /// </summary>
    public long SegmentSizeBytes { get; set; } = DefaultSegmentSizeBytes;

    /// <summary>Skip fdatasync (etcd's --unsafe-no-fsync). Loses acknowledged writes on power failure.</summary>
    public bool UnsafeNoFsync { get; set; }

    /// <summary>Where the WAL logs segment cuts, repairs and slow syncs.</summary>
    public ILogger Logger { get; set; } = NullLogger.Instance;

    /// <summary>The file system the WAL, the snap files and the storage live on; tests put a lossy disk here.</summary>
    internal IFileSystem FileSystem { get; set; } = NativeFileSystem.Instance;
}
