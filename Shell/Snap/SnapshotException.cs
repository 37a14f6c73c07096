namespace Raft.Shell.Snap;

/// <summary>Why a snap file could not be read (etcd's snap.Err*).</summary>
internal enum SnapshotErrorKind
{
    /// <summary>The file, or the data in it, is empty.</summary>
    Empty,
    /// <summary>The data does not match its CRC-32C.</summary>
    CrcMismatch,
    /// <summary>The file does not decode.</summary>
    Corrupt,
}

/// <summary>A snap file that cannot be used, naming the file.</summary>
internal sealed class SnapshotException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SnapshotException(SnapshotErrorKind kind, string path, string message, Exception? inner = null)
        : base($"snap: {message} ({path})", inner)
    {
        Kind = kind;
        Path = path;
    }

    /// <summary>Which failure this is.</summary>
    public SnapshotErrorKind Kind { get; }

    /// <summary>The snap file.</summary>
    public string Path { get; }
}
