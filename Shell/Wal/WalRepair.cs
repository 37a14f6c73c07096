using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Raft.Shell.IO;

namespace Raft.Shell.Wal;

/// <summary>etcd's wal.Repair: cuts a torn write off the end of the last segment.</summary>
internal static class WalRepair
{
    /// <summary>
    /// Reads the last segment; if it ends in a torn write, copies it to <c>NAME.wal.broken</c>,
    /// truncates it after the last whole record and fsyncs it. A clean segment is left alone.
    /// </summary>
    /// <returns>
    /// True when the segment now reads cleanly to its end; false when it could not be repaired
    /// (damage that is not a torn tail, or the segment is locked by an open WAL).
    /// </returns>
    public static bool Repair(string dir, ILogger? logger = null) => Repair(NativeFileSystem.Instance, dir, logger);

    /// <inheritdoc cref="Repair(string, ILogger?)"/>
    internal static bool Repair(IFileSystem fs, string dir, ILogger? logger = null)
    {
        var log = logger ?? NullLogger.Instance;
        string[] names;
        try
        {
            names = WalNames.Read(fs, dir);
        }
        catch (WalException)
        {
            return false;
        }
        var path = Path.Combine(dir, names[^1]);
        using var f = LockedFile.TryOpen(fs, path, FileMode.Open, FileAccess.ReadWrite, Wal.LockWait);
        if (f is null)
        {
            log.LogWarning("cannot repair {Path}: it is locked", path);
            return false;
        }
        log.LogInformation("repairing {Path}", path);
        var decoder = new WalDecoder([new Segment(path, f.File, f.Length)]);
        try
        {
            while (true)
            {
                switch (decoder.NextInPlace(out _))
                {
                    case DecodeOutcome.Record:
                        continue;
                    case DecodeOutcome.End:
                        log.LogInformation("repaired {Path}: nothing to cut", path);
                        return true;
                    case DecodeOutcome.Torn:
                        var broken = path + ".broken";
                        using (var copy = fs.CreateForWrite(broken, tryDirect: false, out _))
                        {
                            var buf = new byte[1 << 20];
                            long pos = 0;
                            int n;
                            while ((n = f.Read(buf, pos)) > 0)
                            {
                                copy.Write(buf.AsSpan(0, n), pos);
                                pos += n;
                            }
                            copy.Fsync();
                        }
                        f.SetLength(decoder.LastOffset);
                        f.Fsync();
                        fs.FsyncDirectory(dir);
                        log.LogInformation("repaired {Path}: cut at offset {Offset}, copy in {Broken}", path, decoder.LastOffset, broken);
                        return true;
                }
            }
        }
        catch (WalException ex)
        {
            log.LogWarning(ex, "failed to repair {Path}", path);
            return false;
        }
    }
}
