using System.Buffers;

namespace Raft.Kv.Http;

// The Maintenance service's request bodies with fields (MoveLeaderRequest), read as the other gateway bodies are.
public static partial class GatewayJsonReader
{
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
