using System.Globalization;

namespace Raft.Kv.Backend;

/// <summary>
/// Unmaps from this process the pages of a memory-mapped file that it has touched (madvise
/// MADV_DONTNEED over each mapping of the file that /proc/self/maps lists). The pages stay in the
/// kernel's page cache, so the next read of one maps it again without going to the disk; they only
/// stop counting in the process's resident memory, and the kernel can drop them first when memory
/// runs short, as it does unmapped cache pages. Linux only; elsewhere nothing is released.
/// </summary>
internal static class MappedPages
{
    /// <summary>Releases this process's mapped pages of <paramref name="path"/>; returns the bytes of mapping advised.</summary>
    public static long Release(string path)
    {
        if (!OperatingSystem.IsLinux()) return 0;
        var full = Path.GetFullPath(path);
        long fileBytes;
        try
        {
            fileBytes = new FileInfo(full).Length;
            long advised = 0;
            foreach (var (start, end, offset) in Mappings(File.ReadLines("/proc/self/maps"), full))
            {
                // Only the pages inside the file can be resident; the map reserved beyond its end
                // (LMDB's is hundreds of gigabytes) need not be walked.
                var length = Math.Min(end - start, Math.Max(0, fileBytes - offset));
                if (length <= 0) continue;
                length = (length + Environment.SystemPageSize - 1) / Environment.SystemPageSize * Environment.SystemPageSize;
                if (Raft.Shell.IO.Native.DontNeed((nint)start, length)) advised += length;
            }
            return advised;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>The mappings of <paramref name="fullPath"/> among the lines of a /proc/PID/maps file: address range and file offset.</summary>
    internal static IEnumerable<(long Start, long End, long Offset)> Mappings(IEnumerable<string> mapsLines, string fullPath)
    {
        foreach (var line in mapsLines)
        {
            // "start-end perms offset dev inode pathname": the path is what follows the fifth field.
            var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 6 || fields[5].Trim() != fullPath) continue;
            var dash = fields[0].IndexOf('-');
            if (dash < 0) continue;
            yield return (long.Parse(fields[0].AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                long.Parse(fields[0].AsSpan(dash + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                long.Parse(fields[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        }
    }
}
