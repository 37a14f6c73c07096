using Google.Protobuf;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Auth;

/// <summary>
/// The caller in a Raft entry: etcd's InternalRaftRequest.header (field 100, a RequestHeader with the
/// user name and the auth revision the request was checked at), which every member checks again
/// when it applies the entry.
/// </summary>
public static class AuthHeader
{
    // Tag of field 100, length-delimited (varint 802), and a length of 0.
    private static ReadOnlySpan<byte> EmptyHeader => [0xA2, 0x06, 0x00];

    /// <summary>
    /// <paramref name="command"/> with a header for <paramref name="caller"/> appended (protobuf merges
    /// a field that follows the others). An entry a client asked for always has one (empty for no
    /// caller); an entry without one was proposed by the cluster itself.
    /// </summary>
    public static byte[] Append(byte[] command, AuthInfo? caller)
    {
        if (caller is null)
        {
            // Field 100 holding an empty RequestHeader: every put has it while auth is off.
            var plain = new byte[command.Length + EmptyHeader.Length];
            command.CopyTo(plain, 0);
            EmptyHeader.CopyTo(plain.AsSpan(command.Length));
            return plain;
        }
        var header = new Pb.RequestHeader { Username = caller?.User ?? "", AuthRevision = caller?.Revision ?? 0 };
        var size = header.CalculateSize();
        var result = new byte[command.Length + CodedOutputStream.ComputeTagSize(100) + CodedOutputStream.ComputeLengthSize(size) + size];
        command.CopyTo(result, 0);
        var tail = new byte[result.Length - command.Length];
        using (var o = new CodedOutputStream(tail))
        {
            o.WriteTag(100, WireFormat.WireType.LengthDelimited);
            o.WriteMessage(header);
        }
        tail.CopyTo(result, command.Length);
        return result;
    }

    /// <summary>The caller an entry's header names; null when the entry has none (proposed by the cluster).</summary>
    internal static AuthInfo? Of(Pb.InternalRaftRequest request) =>
        request.Header is { } h ? new AuthInfo(h.Username, h.AuthRevision) : null;
}
