using System.Globalization;
using Raft.Shell.IO;

namespace Raft.Shell.Wal;

/// <summary>Segment file names: <c>%016x-%016x.wal</c>, sequence then the first index the segment may hold.</summary>
internal static class WalNames
{
    /// <summary>The name of segment <paramref name="seq"/> starting at <paramref name="index"/>.</summary>
    public static string Format(ulong seq, ulong index) => $"{seq:x16}-{index:x16}.wal";

    /// <summary>Parses a segment name; false for anything else (temporary files, .broken copies).</summary>
    public static bool TryParse(string name, out ulong seq, out ulong index)
    {
        seq = index = 0;
        return name.Length == 37 && name[16] == '-' && name.EndsWith(".wal", StringComparison.Ordinal)
            && ulong.TryParse(name.AsSpan(0, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out seq)
            && ulong.TryParse(name.AsSpan(17, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out index);
    }

    /// <summary>The segment names in <paramref name="dir"/>, in order.</summary>
    /// <exception cref="WalException">FileNotFound when there is none.</exception>
    public static string[] Read(string dir) => Read(NativeFileSystem.Instance, dir);

    /// <inheritdoc cref="Read(string)"/>
    internal static string[] Read(IFileSystem fs, string dir)
    {
        var names = fs.DirectoryExists(dir)
            ? fs.ListFiles(dir).Select(Path.GetFileName).OfType<string>().Where(n => TryParse(n, out _, out _))
                .Order(StringComparer.Ordinal).ToArray()
            : [];
        if (names.Length == 0) throw new WalException(WalErrorKind.FileNotFound, "file not found", dir);
        return names;
    }

    /// <summary>True when <paramref name="dir"/> holds at least one segment (etcd's wal.Exist).</summary>
    public static bool Exist(string dir) => Exist(NativeFileSystem.Instance, dir);

    /// <inheritdoc cref="Exist(string)"/>
    internal static bool Exist(IFileSystem fs, string dir) =>
        fs.DirectoryExists(dir) && fs.ListFiles(dir).Any(p => TryParse(Path.GetFileName(p), out _, out _));

    /// <summary>The last position in <paramref name="names"/> whose start index is at most <paramref name="index"/>.</summary>
    public static int SearchIndex(IReadOnlyList<string> names, ulong index)
    {
        for (var i = names.Count - 1; i >= 0; i--)
        {
            TryParse(names[i], out _, out var start);
            if (index >= start) return i;
        }
        return -1;
    }

    /// <summary>True when the sequence numbers increase by one from each name to the next.</summary>
    public static bool IsValidSeq(IEnumerable<string> names)
    {
        ulong? last = null;
        foreach (var n in names)
        {
            TryParse(n, out var seq, out _);
            if (last is { } l && l + 1 != seq) return false;
            last = seq;
        }
        return true;
    }
}
