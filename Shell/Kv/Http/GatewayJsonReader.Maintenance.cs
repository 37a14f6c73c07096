using System.Buffers;

namespace Raft.Kv.Http;

// The Maintenance service's request bodies (HashKVRequest, MoveLeaderRequest), read as the other gateway bodies are.
public static partial class GatewayJsonReader
{
    /// <summary>Reads a HashKVRequest body: the revision to hash up to (0: the current one).</summary>
    public static EtcdError? ReadHashKV(ReadOnlySequence<byte> body, out long revision)
    {
        var error = Scan(body, [("revision", "revision")], out var f);
        long value = 0;
        error ??= Int64(f, 0, ref value);
        revision = value;
        return error;
    }

    /// <summary>Reads a MoveLeaderRequest body: the member to hand leadership to.</summary>
    public static EtcdError? ReadMoveLeader(ReadOnlySequence<byte> body, out ulong target)
    {
        var error = Scan(body, [("targetID", "targetID")], out var f);
        ulong value = 0;
        error ??= UInt64(f, 0, ref value);
        target = value;
        return error;
    }
}
