using System.Buffers.Binary;
using Google.Protobuf;
using Raft.Interop.Wire;
using Raft.Shell.IO;

namespace Raft.Shell.Wal;

/// <summary>
/// Frames records onto a segment: an 8-byte little-endian length (low 56 bits the record size, top
/// byte 0x80|padding when the record is padded to 8 bytes), the walpb.Record bytes, zero padding.
/// Keeps the running CRC-32C over every record's data.
/// </summary>
internal sealed class WalEncoder
{
    /// <summary>Flush alignment: a multiple of the 512-byte sector (etcd's walPageBytes).</summary>
    public const int PageBytes = 8 * WalDecoder.MinSectorSize;

    private readonly PageWriter writer;
    private byte[] frame = new byte[4096];
    private byte[] payload = new byte[1024];

    public WalEncoder(LockedFile file, uint prevCrc, long offset)
    {
        writer = new PageWriter(file, PageBytes, offset);
        Crc = prevCrc;
    }

    /// <summary>The running CRC after the last record encoded.</summary>
    public uint Crc { get; private set; }

    /// <summary>File offset just past the last record encoded (flushed or not).</summary>
    public long Offset => writer.Offset;

    public void Flush() => writer.Flush();

    public void EncodeEntry(Raft.Core.Entry e)
    {
        var p = RaftpbConvert.ToProto(e);
        var size = p.CalculateSize();
        if (payload.Length < size) payload = new byte[Math.Max(size, payload.Length * 2)];
        p.WriteTo(payload.AsSpan(0, size));
        Encode(RecordType.Entry, payload.AsSpan(0, size), hasData: true);
    }

    /// <summary>Appends one record; <paramref name="hasData"/> false writes no data field at all (etcd's nil).</summary>
    public void Encode(long type, ReadOnlySpan<byte> data, bool hasData)
    {
        Crc = Crc32C.Update(Crc, data);
        var size = RecordSize(type, Crc, data.Length, hasData);
        var pad = (8 - size % 8) % 8;
        var total = 8 + size + pad;
        if (frame.Length < total) frame = new byte[Math.Max(total, frame.Length * 2)];
        var f = frame.AsSpan(0, total);
        var lenField = (ulong)size;
        if (pad != 0) lenField |= (ulong)(0x80 | pad) << 56;
        BinaryPrimitives.WriteUInt64LittleEndian(f, lenField);
        var w = 8;
        f[w++] = 0x08;
        w += Varint.Write(f[w..], (ulong)type);
        f[w++] = 0x10;
        w += Varint.Write(f[w..], Crc);
        if (hasData)
        {
            f[w++] = 0x1a;
            w += Varint.Write(f[w..], (ulong)data.Length);
            data.CopyTo(f[w..]);
            w += data.Length;
        }
        f[w..].Clear();
        writer.Write(f);
    }

    /// <summary>Size of the walpb.Record bytes: type, crc, and data when present (gogoproto's layout).</summary>
    public static int RecordSize(long type, uint crc, int dataLength, bool hasData) =>
        1 + CodedOutputStream.ComputeUInt64Size((ulong)type) + 1 + CodedOutputStream.ComputeUInt32Size(crc)
        + (hasData ? 1 + CodedOutputStream.ComputeLengthSize(dataLength) + dataLength : 0);
}
