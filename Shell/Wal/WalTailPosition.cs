namespace Raft.Shell.Wal;

/// <summary>
/// Where a WAL appends: the file name of its newest segment and the bytes of it that hold records.
/// A segment is preallocated to the full segment size when it is created, so its length on disk says
/// nothing about how much of the log it holds.
/// </summary>
/// <param name="FileName">The segment's file name (etcd's <c>%016x-%016x.wal</c>).</param>
/// <param name="Offset">Bytes written to it so far, the records still buffered included.</param>
internal sealed record WalTailPosition(string FileName, long Offset);
