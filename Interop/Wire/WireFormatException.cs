namespace Raft.Interop.Wire;

/// <summary>
/// Bytes that do not decode into the raftpb, walpb or snappb value they should hold: malformed
/// protobuf, or an enum number etcd does not define.
/// </summary>
public sealed class WireFormatException : Exception
{
    /// <summary>Creates the exception with a message saying what failed to decode.</summary>
    public WireFormatException(string message) : base(message) { }

    /// <summary>Creates the exception wrapping the decoder's own error.</summary>
    public WireFormatException(string message, Exception inner) : base(message, inner) { }
}
