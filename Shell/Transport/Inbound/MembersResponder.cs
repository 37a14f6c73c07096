using System.Buffers.Binary;
using System.Net.Sockets;

namespace Raft.Shell.Transport;

/// <summary>A members connection: answers a joining member's request for the membership.</summary>
internal static class MembersResponder
{
    /// <summary>The membership answer: a 4-byte big-endian length, then the source's bytes.</summary>
    public static async Task WriteAsync(TransportContext ctx, Stream stream, CancellationToken token)
    {
        var body = ((IMembershipSource)ctx.Raft).MembershipJson();
        var framed = new byte[4 + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(framed, body.Length);
        body.CopyTo(framed, 4);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(ctx.Options.WriteTimeout);
        await stream.WriteAsync(framed, timeout.Token).ConfigureAwait(false);
    }
}
