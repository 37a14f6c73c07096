using System.Buffers.Binary;
using Google.Protobuf;
using Raft.Interop.Wire;
using Raft.Shell.IO;

namespace Raft.Shell.Wal;

/// <summary>A segment file being read: its path, the open file and its length when opened.</summary>
internal sealed record Segment(string Path, IDiskFile File, long Length);

/// <summary>How a call to <see cref="WalDecoder.NextInPlace"/> ended.</summary>
internal enum DecodeOutcome
{
    /// <summary>A whole, verified record.</summary>
    Record,
    /// <summary>The end of the written part of the last segment.</summary>
    End,
    /// <summary>A torn write at the end of the last segment, starting at <see cref="WalDecoder.LastOffset"/>.</summary>
    Torn,
}

/// <summary>
/// Reads framed records across segments in order, verifying the CRC chain (etcd's decoder, with
/// the crc-record check that etcd does in ReadAll folded in). A record that fails to decode or
/// verify is a torn write only in the last segment, and only when some 512-byte sector of it is all
/// zeros or the file ends inside it (a write that never reached the disk; whatever follows it was
/// written later and is torn too); anything else is corruption and throws a
/// <see cref="WalException"/> naming the file and offset. A zero length marks the end of the
/// written part; with a whole record after it, only when its sector was never written, in the last
/// segment.
/// </summary>
internal sealed class WalDecoder
{
    public const int MinSectorSize = 512;
    private const int FrameSizeBytes = 8;
    private const ulong LengthMask = 0x00FF_FFFF_FFFF_FFFF;

    private readonly IReadOnlyList<Segment> segments;
    private readonly byte[] window = new byte[1 << 20];
    private IDiskFile? windowFile;
    private long windowStart;
    private int windowLength;
    private int current;

    public WalDecoder(IReadOnlyList<Segment> segments, uint prevCrc = 0)
    {
        this.segments = segments;
        LastCrc = prevCrc;
    }

    /// <summary>The running CRC after the last good record.</summary>
    public uint LastCrc { get; private set; }

    /// <summary>Offset, in the segment being read, just past the last good record.</summary>
    public long LastOffset { get; private set; }

    /// <summary>The segment being read (the last one once the end is reached).</summary>
    public Segment? CurrentSegment => segments.Count == 0 ? null : segments[Math.Min(current, segments.Count - 1)];

    /// <summary>
    /// Reads the next record where it lies in the decoder's buffer (a restart reads hundreds of
    /// megabytes of entries: each one copied out whole before its payload and then its data were
    /// copied again was three copies of the log); <paramref name="record"/> is valid until the next call.
    /// </summary>
    /// <exception cref="WalException">Corruption: CrcMismatch or Corrupt, naming file and offset.</exception>
    public DecodeOutcome NextInPlace(out RecordView record)
    {
        record = default;
        while (current < segments.Count)
        {
            var seg = segments[current];
            var last = current == segments.Count - 1;
            var off = LastOffset;
            Span<byte> header = stackalloc byte[FrameSizeBytes];
            var n = ReadAt(seg, off, header);
            // A zero length (or zeros up to the end of the file) ends the written part of the segment.
            if (!header[..n].ContainsAnyExcept((byte)0))
            {
                if (n != 0 && FindWholeRecord(seg, off + FrameSizeBytes) is { } found)
                {
                    // A frame whose sector was never written (zeros from the frame to the end of
                    // its sector) in the last segment was not synced, and neither was anything
                    // written after it: disks and page caches write back out of order, so a later
                    // page may reach the disk while an earlier one is lost. Nothing unsynced was
                    // acknowledged, so it is a torn tail; etcd stops reading at a zero length too.
                    if (last && ZerosToSectorEnd(seg, off)) return DecodeOutcome.Torn;
                    throw new WalException(WalErrorKind.Corrupt,
                        $"zero frame length, but a whole record follows at offset {found}", seg.Path, off);
                }
                // A closed segment was cut to its written length, so data after a zero length is damage.
                if (n != 0 && !last && NonZeroAfter(seg, off + FrameSizeBytes))
                    throw new WalException(WalErrorKind.Corrupt, "zero frame length inside a closed segment", seg.Path, off);
                if (!Advance()) return DecodeOutcome.End;
                continue;
            }
            if (n < FrameSizeBytes)
            {
                if (last) return DecodeOutcome.Torn;
                throw new WalException(WalErrorKind.Corrupt, "truncated frame length", seg.Path, off);
            }

            var lenField = BinaryPrimitives.ReadUInt64LittleEndian(header);
            var recBytes = (long)(lenField & LengthMask);
            var padBytes = (lenField >> 63) != 0 ? (long)((lenField >> 56) & 7) : 0;
            var frameEnd = off + FrameSizeBytes + recBytes + padBytes;
            if (frameEnd > seg.Length || recBytes + padBytes > Array.MaxLength)
            {
                if (last && FindWholeRecord(seg, off + FrameSizeBytes) is null) return DecodeOutcome.Torn;
                throw new WalException(WalErrorKind.Corrupt,
                    $"frame of {recBytes} bytes runs past the end of the segment ({seg.Length} bytes)", seg.Path, off);
            }

            var data = FrameBytes(seg, off + FrameSizeBytes, (int)(recBytes + padBytes));
            if (data.Length != recBytes + padBytes)
                throw new WalException(WalErrorKind.Corrupt, "short read inside the segment", seg.Path, off);
            var raw = data[..(int)recBytes];
            if (!TryParseRecord(raw, out var type, out var crc, out var payload, out var hasData))
            {
                if (IsTorn(last, off, data)) return DecodeOutcome.Torn;
                throw new WalException(WalErrorKind.Corrupt, "undecodable record", seg.Path, off);
            }

            if (type == RecordType.Crc)
            {
                // A segment opens with the running CRC of everything before it; a fresh decoder (0) takes it as given.
                if (LastCrc != 0 && crc != LastCrc)
                    throw new WalException(WalErrorKind.CrcMismatch,
                        $"crc mismatch: segment carries {crc:x8}, chain is at {LastCrc:x8}", seg.Path, off);
                LastCrc = crc;
            }
            else
            {
                var next = Crc32C.Update(LastCrc, raw[payload]);
                if (next != crc)
                {
                    if (IsTorn(last, off, data)) return DecodeOutcome.Torn;
                    throw new WalException(WalErrorKind.CrcMismatch,
                        $"crc mismatch: record says {crc:x8}, data gives {next:x8}", seg.Path, off);
                }
                LastCrc = next;
            }

            LastOffset = frameEnd;
            record = new RecordView(type, crc, raw, hasData ? raw[payload] : default, hasData, seg.Path, off);
            return DecodeOutcome.Record;
        }
        return DecodeOutcome.End;
    }

    private bool Advance()
    {
        if (current + 1 >= segments.Count)
        {
            current = segments.Count;
            return false;
        }
        current++;
        LastOffset = 0;
        return true;
    }

    // etcd's isTornEntry: in the last segment, a record that does not verify and has a sector of
    // zeros was cut short by a write that never reached the disk. Whole records after it were
    // written later, so they were not synced either (the page cache wrote them back first); the
    // tail from this record on is torn. Damage without an unwritten sector (flipped or garbage
    // bytes) is not something a lost write leaves behind, and stops the start.
    private static bool IsTorn(bool last, long off, ReadOnlySpan<byte> data)
    {
        if (!last) return false;
        var fileOff = off + FrameSizeBytes;
        var cur = 0;
        var anyZeroSector = false;
        while (cur < data.Length && !anyZeroSector)
        {
            var chunk = (int)Math.Min(MinSectorSize - fileOff % MinSectorSize, data.Length - cur);
            anyZeroSector = !data.Slice(cur, chunk).ContainsAnyExcept((byte)0);
            fileOff += chunk;
            cur += chunk;
        }
        return anyZeroSector;
    }

    /// <summary>Whether the bytes from <paramref name="off"/> to the end of its 512-byte sector (or of the file) are all zeros.</summary>
    private bool ZerosToSectorEnd(Segment seg, long off)
    {
        var end = Math.Min(seg.Length, (off / MinSectorSize + 1) * MinSectorSize);
        Span<byte> rest = stackalloc byte[MinSectorSize];
        var n = ReadAt(seg, off, rest[..(int)(end - off)]);
        return !rest[..n].ContainsAnyExcept((byte)0);
    }

    /// <summary>
    /// The offset of the first 8-byte aligned position at or after <paramref name="from"/> holding
    /// a frame whose record decodes completely (valid length and padding marker, a known type, a
    /// payload that parses as that type); null when there is none before the end of the segment.
    /// </summary>
    private long? FindWholeRecord(Segment seg, long from)
    {
        var pos = (from + 7) & ~7L;
        Span<byte> word = stackalloc byte[8];
        while (pos + FrameSizeBytes <= seg.Length)
        {
            if (!Fill(seg, pos)) return null;
            var inWindow = (int)(pos - windowStart);
            var span = window.AsSpan(inWindow, windowLength - inWindow);
            var nz = span.IndexOfAnyExcept((byte)0);
            if (nz < 0)
            {
                pos = windowStart + windowLength;
                pos = (pos + 7) & ~7L;
                continue;
            }
            pos = (pos + nz) & ~7L;
            if (ReadAt(seg, pos, word) < 8) return null;
            if (IsWholeRecordAt(seg, pos, BinaryPrimitives.ReadUInt64LittleEndian(word))) return pos;
            pos += 8;
        }
        return null;
    }

    private bool NonZeroAfter(Segment seg, long from)
    {
        for (var pos = from; pos < seg.Length && Fill(seg, pos); pos = windowStart + windowLength)
        {
            var inWindow = (int)(pos - windowStart);
            if (window.AsSpan(inWindow, windowLength - inWindow).ContainsAnyExcept((byte)0)) return true;
        }
        return false;
    }

    private bool IsWholeRecordAt(Segment seg, long pos, ulong lenField)
    {
        var recBytes = (long)(lenField & LengthMask);
        var top = lenField >> 56;
        var pad = (8 - recBytes % 8) % 8;
        if (recBytes < 4 || (pad == 0 ? top != 0 : top != (ulong)(0x80 | pad))) return false;
        if (pos + FrameSizeBytes + recBytes + pad > seg.Length || recBytes > Array.MaxLength) return false;
        var data = new byte[recBytes];
        if (ReadAt(seg, pos + FrameSizeBytes, data) != data.Length) return false;
        if (!TryParseRecord(data, out var type, out _, out var payload, out var hasData)) return false;
        var p = data.AsSpan()[payload];
        try
        {
            switch (type)
            {
                case RecordType.Crc: return !hasData;
                case RecordType.Metadata: return hasData;
                case RecordType.Entry: RaftpbMarshal.UnmarshalEntry(p); return hasData;
                case RecordType.State: RaftpbMarshal.UnmarshalHardState(p); return hasData;
                case RecordType.Snapshot: WalSnapshot.Unmarshal(p); return hasData;
                default: return false;
            }
        }
        catch (WireFormatException)
        {
            return false;
        }
    }

    /// <summary>Parses walpb.Record: type (1), crc (2), data (3); unknown fields are skipped as gogoproto does.</summary>
    internal static bool TryParseRecord(ReadOnlySpan<byte> b, out long type, out uint crc, out Range payload, out bool hasData)
    {
        type = 0;
        crc = 0;
        payload = default;
        hasData = false;
        var i = 0;
        while (i < b.Length)
        {
            if (!Varint.TryRead(b, ref i, out var key)) return false;
            var field = key >> 3;
            switch (key & 7)
            {
                case 0:
                    if (!Varint.TryRead(b, ref i, out var v)) return false;
                    if (field == 1) type = (long)v;
                    else if (field == 2)
                    {
                        if (v > uint.MaxValue) return false;
                        crc = (uint)v;
                    }
                    break;
                case 2:
                    if (!Varint.TryRead(b, ref i, out var len) || len > (ulong)(b.Length - i)) return false;
                    if (field == 3)
                    {
                        payload = new Range(i, i + (int)len);
                        hasData = true;
                    }
                    i += (int)len;
                    break;
                case 1:
                    if (b.Length - i < 8) return false;
                    i += 8;
                    break;
                case 5:
                    if (b.Length - i < 4) return false;
                    i += 4;
                    break;
                default:
                    return false;
            }
            if (field == 0) return false;
        }
        return true;
    }

    private int ReadAt(Segment seg, long offset, Span<byte> dest)
    {
        var total = 0;
        while (total < dest.Length)
        {
            var at = offset + total;
            if (at >= seg.Length || !Fill(seg, at)) break;
            var inWindow = (int)(at - windowStart);
            var n = Math.Min(dest.Length - total, windowLength - inWindow);
            window.AsSpan(inWindow, n).CopyTo(dest[total..]);
            total += n;
        }
        return total;
    }

    // The `length` bytes at `offset` in `seg`: in the window when they fit in it (moving it to start
    // at `offset` when they are not all in it yet), else in an array of their own; shorter when the
    // file ends first.
    private ReadOnlySpan<byte> FrameBytes(Segment seg, long offset, int length)
    {
        if (length > window.Length)
        {
            var own = new byte[length];
            return own.AsSpan(0, ReadAt(seg, offset, own));
        }
        if ((windowFile != seg.File || offset < windowStart || offset + length > windowStart + windowLength) && !Load(seg, offset))
            return [];
        var inWindow = (int)(offset - windowStart);
        return window.AsSpan(inWindow, Math.Min(length, windowLength - inWindow));
    }

    // Makes the window cover `offset` in `seg`; false at the end of the file.
    private bool Fill(Segment seg, long offset) =>
        (windowFile == seg.File && offset >= windowStart && offset < windowStart + windowLength) || Load(seg, offset);

    // Reads the window from `offset` in `seg` on; false at the end of the file.
    private bool Load(Segment seg, long offset)
    {
        var want = (int)Math.Min(window.Length, seg.Length - offset);
        if (want <= 0) return false;
        var got = 0;
        while (got < want)
        {
            var r = seg.File.Read(window.AsSpan(got, want - got), offset + got);
            if (r == 0) break;
            got += r;
        }
        windowFile = seg.File;
        windowStart = offset;
        windowLength = got;
        return got > 0;
    }
}
