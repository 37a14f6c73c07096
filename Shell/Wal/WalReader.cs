using Raft.Shell.IO;

namespace Raft.Shell.Wal;

/// <summary>
/// Reads the records of a WAL directory in order without locking it, for inspection (dumps,
/// verification). Every record it returns has passed the CRC chain; corruption throws a
/// <see cref="WalException"/> naming the file and offset, and a torn tail ends the reading with
/// <see cref="TornFile"/> and <see cref="TornOffset"/> set.
/// </summary>
internal sealed class WalReader : IDisposable
{
    private readonly List<Segment> segments;
    private readonly WalDecoder decoder;
    private bool done;

    private WalReader(List<Segment> segments)
    {
        this.segments = segments;
        decoder = new WalDecoder(segments);
    }

    /// <summary>The segment files being read, in order.</summary>
    public IReadOnlyList<string> Files => segments.Select(s => s.Path).ToArray();

    /// <summary>The segment that ends in a torn write, if reading stopped at one.</summary>
    public string? TornFile { get; private set; }

    /// <summary>Offset in <see cref="TornFile"/> of the first frame that is not whole.</summary>
    public long? TornOffset { get; private set; }

    /// <summary>Opens every segment in <paramref name="dir"/>, from the oldest still there.</summary>
    /// <exception cref="WalException">FileNotFound when there is no segment or the sequence has a hole.</exception>
    public static WalReader Open(string dir) => Open(NativeFileSystem.Instance, dir);

    /// <inheritdoc cref="Open(string)"/>
    internal static WalReader Open(IFileSystem fs, string dir) => new(OpenSegments(fs, dir, null));

    /// <summary>Opens the segments from the one covering <paramref name="index"/> on (all of them for null).</summary>
    internal static List<Segment> OpenSegments(IFileSystem fs, string dir, ulong? index)
    {
        var names = WalNames.Read(fs, dir);
        var at = index is { } i ? WalNames.SearchIndex(names, i) : 0;
        if (at < 0 || !WalNames.IsValidSeq(names[at..]))
            throw new WalException(WalErrorKind.FileNotFound, $"no valid segment sequence covers index {index}", dir);
        var list = new List<Segment>();
        try
        {
            foreach (var name in names[at..])
            {
                var path = Path.Combine(dir, name);
                var f = fs.OpenRead(path);
                list.Add(new Segment(path, f, f.Length));
            }
        }
        catch
        {
            foreach (var s in list) s.File.Dispose();
            throw;
        }
        return list;
    }

    /// <summary>The next record, or false at the end (clean, or a torn tail).</summary>
    /// <exception cref="WalException">The WAL is corrupt.</exception>
    public bool TryRead(out WalRecord? record)
    {
        record = null;
        if (!TryReadInPlace(out var view)) return false;
        record = new WalRecord(view.Type, view.Crc, view.HasData ? view.Data.ToArray() : null, view.File, view.Offset, view.Raw.ToArray());
        return true;
    }

    /// <summary>
    /// The next record where it lies in the reader's buffer, valid until the next call (for a read
    /// of the whole log that keeps little of it); false at the end (clean, or a torn tail).
    /// </summary>
    /// <exception cref="WalException">The WAL is corrupt.</exception>
    public bool TryReadInPlace(out RecordView record)
    {
        record = default;
        if (done) return false;
        switch (decoder.NextInPlace(out record))
        {
            case DecodeOutcome.Record:
                return true;
            case DecodeOutcome.Torn:
                TornFile = decoder.CurrentSegment?.Path;
                TornOffset = decoder.LastOffset;
                break;
        }
        done = true;
        return false;
    }

    /// <summary>Closes the segment files.</summary>
    public void Dispose()
    {
        foreach (var s in segments) s.File.Dispose();
    }
}
