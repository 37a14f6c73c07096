using System.Buffers.Binary;
using System.Net.Sockets;

namespace Raft.Shell.Transport;

/// <summary>
/// What a transport's <see cref="ITransportRaft"/> implements to answer membership requests
/// (<see cref="ConnectionKind.Members"/>); a transport whose raft side does not refuses them.
/// </summary>
internal interface IMembershipSource
{
    /// <summary>The current membership, in the form the asker expects.</summary>
    byte[] MembershipJson();
}

/// <summary>
/// Asks a member at a peer URL for its membership (the client side of etcd's GET /members, used by
/// GetClusterFromRemotePeers before a joining member knows its own id).
/// </summary>
internal static class MembersRequest
{
    /// <summary>Largest answer accepted.</summary>
    public const int MaxAnswerBytes = 16 * 1024 * 1024;

    /// <summary>Connects, says hello with no identity, and returns the answer's bytes.</summary>
    /// <exception cref="IOException">The peer refused, closed early or answered garbage.</exception>
    public static async Task<byte[]> FetchAsync(string peerUrl, TimeSpan timeout, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(PeerUrl.Parse(peerUrl), deadline.Token).ConfigureAwait(false);
            var hello = new byte[Handshake.HelloSize];
            Handshake.WriteHello(hello, new Hello(Handshake.ProtocolVersion, ConnectionKind.Members, 0, 0, 0));
            for (var sent = 0; sent < hello.Length;)
                sent += await socket.SendAsync(hello.AsMemory(sent), SocketFlags.None, deadline.Token).ConfigureAwait(false);
            var reply = await ReadExactlyAsync(socket, Handshake.ReplySize, deadline.Token).ConfigureAwait(false);
            var parsed = Handshake.ReadReply(reply, out var error) ?? throw new IOException($"{peerUrl}: {error}");
            if (parsed.Code != HandshakeCode.Accepted)
                throw new IOException($"{peerUrl} refused the membership request: {Handshake.Describe(parsed.Code)}");
            var length = BinaryPrimitives.ReadInt32BigEndian(await ReadExactlyAsync(socket, 4, deadline.Token).ConfigureAwait(false));
            if (length < 0 || length > MaxAnswerBytes)
                throw new IOException($"{peerUrl} answered a membership of {length} bytes");
            return await ReadExactlyAsync(socket, length, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new IOException($"{peerUrl} did not answer the membership request within {timeout.TotalMilliseconds} ms");
        }
        catch (SocketException ex)
        {
            throw new IOException($"{peerUrl}: {ex.Message}", ex);
        }
    }

    private static async Task<byte[]> ReadExactlyAsync(Socket socket, int count, CancellationToken ct)
    {
        var buffer = new byte[count];
        for (var read = 0; read < count;)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, ct).ConfigureAwait(false);
            if (n == 0)
                throw new IOException("the peer closed the connection early");
            read += n;
        }
        return buffer;
    }
}
