namespace Raft.Shell.Wal;

/// <summary>The walpb.Record types.</summary>
internal static class RecordType
{
    /// <summary>Metadata (etcd's Metadata: node id and cluster id) at the head of each segment.</summary>
    public const long Metadata = 1;
    /// <summary>A raftpb.Entry.</summary>
    public const long Entry = 2;
    /// <summary>A raftpb.HardState.</summary>
    public const long State = 3;
    /// <summary>The running CRC carried into a new segment (no data).</summary>
    public const long Crc = 4;
    /// <summary>A walpb.Snapshot.</summary>
    public const long Snapshot = 5;

    /// <summary>etcd's names for the types, for dumps.</summary>
    public static string Name(long type) => type switch
    {
        Metadata => "metadata",
        Entry => "entry",
        State => "state",
        Crc => "crc",
        Snapshot => "snapshot",
        _ => $"unknown({type})",
    };
}

/// <summary>One decoded and verified WAL record, with where it was found.</summary>
internal sealed class WalRecord
{
    internal WalRecord(long type, uint crc, byte[]? data, string file, long offset, ReadOnlyMemory<byte> raw)
    {
        Type = type;
        Crc = crc;
        Data = data;
        File = file;
        Offset = offset;
        Raw = raw;
    }

    /// <summary>The record type (<see cref="RecordType"/>).</summary>
    public long Type { get; }

    /// <summary>The running CRC-32C after this record's data.</summary>
    public uint Crc { get; }

    /// <summary>The payload; null when the record has none (crc records).</summary>
    public byte[]? Data { get; }

    /// <summary>Path of the segment holding the record.</summary>
    public string File { get; }

    /// <summary>Byte offset of the record's frame in <see cref="File"/>.</summary>
    public long Offset { get; }

    /// <summary>The record's protobuf bytes as they are on disk (without frame length or padding).</summary>
    public ReadOnlyMemory<byte> Raw { get; }
}
