namespace Raft.Shell.Wal;

/// <summary>
/// A decoded and verified WAL record as it lies in <see cref="WalDecoder"/>'s buffer, valid until
/// the decoder's next call: the bytes are read where they are instead of copied out first.
/// </summary>
internal readonly ref struct RecordView
{
    internal RecordView(long type, uint crc, ReadOnlySpan<byte> raw, ReadOnlySpan<byte> data, bool hasData, string file, long offset)
    {
        Type = type;
        Crc = crc;
        Raw = raw;
        Data = data;
        HasData = hasData;
        File = file;
        Offset = offset;
    }

    /// <summary>The record type (<see cref="RecordType"/>).</summary>
    public long Type { get; }

    /// <summary>The running CRC-32C after this record's data.</summary>
    public uint Crc { get; }

    /// <summary>The record's protobuf bytes as they are on disk (without frame length or padding).</summary>
    public ReadOnlySpan<byte> Raw { get; }

    /// <summary>The payload; empty when the record has none (see <see cref="HasData"/>).</summary>
    public ReadOnlySpan<byte> Data { get; }

    /// <summary>Whether the record carries a data field (crc records do not).</summary>
    public bool HasData { get; }

    /// <summary>Path of the segment holding the record.</summary>
    public string File { get; }

    /// <summary>Byte offset of the record's frame in <see cref="File"/>.</summary>
    public long Offset { get; }
}
