namespace Raft.Shell.Wal;

/// <summary>What went wrong reading or writing a WAL; etcd's wal.Err* plus the shell's own cases.</summary>
internal enum WalErrorKind
{
    /// <summary>A record's running CRC-32C does not match its data, or a segment's opening crc record breaks the chain.</summary>
    CrcMismatch,
    /// <summary>A snapshot record at the requested index has a different term.</summary>
    SnapshotMismatch,
    /// <summary>The WAL holds no snapshot record at the index it was opened at.</summary>
    SnapshotNotFound,
    /// <summary>Two segments carry different metadata.</summary>
    MetadataConflict,
    /// <summary>An entry's index leaves a gap after the entries read so far.</summary>
    SliceOutOfRange,
    /// <summary>No WAL file covers the requested index, or the segment sequence has a hole.</summary>
    FileNotFound,
    /// <summary>A WAL already exists where one was to be created.</summary>
    AlreadyExists,
    /// <summary>Another open of the WAL (this process or another) holds a segment's lock.</summary>
    Locked,
    /// <summary>The last segment ends in a torn write; WalRepair.Repair can cut it off.</summary>
    UnexpectedEof,
    /// <summary>A frame or record that cannot be decoded, or damage followed by whole records.</summary>
    Corrupt,
}

/// <summary>A WAL error; for damage on disk it names the segment file and the byte offset of the frame.</summary>
internal sealed class WalException : Exception
{
    /// <summary>Creates the exception.</summary>
    public WalException(WalErrorKind kind, string message, string? file = null, long? offset = null, Exception? inner = null)
        : base(Describe(kind, message, file, offset), inner)
    {
        Kind = kind;
        File = file;
        Offset = offset;
    }

    /// <summary>Which failure this is.</summary>
    public WalErrorKind Kind { get; }

    /// <summary>Path of the segment file at fault, when the failure is in one.</summary>
    public string? File { get; }

    /// <summary>Byte offset in <see cref="File"/> of the frame at fault.</summary>
    public long? Offset { get; }

    private static string Describe(WalErrorKind kind, string message, string? file, long? offset) =>
        file is null ? $"wal: {message}" : offset is null ? $"wal: {message} ({file})" : $"wal: {message} ({file} at offset {offset})";
}
