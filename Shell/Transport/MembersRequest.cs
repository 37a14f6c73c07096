using System.Buffers.Binary;
using System.Net.Sockets;
using Raft.Shell.Transport.Tls;

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
    /// <param name="peerUrl">The member's peer URL; <c>https://</c> speaks TLS with <paramref name="tls"/>.</param>
    /// <param name="timeout">For the whole request.</param>
    /// <param name="tls">Peer TLS; needed for an https:// URL.</param>
    /// <param name="ct">Cancels the request.</param>
    /// <exception cref="IOException">The peer refused, closed early or answered garbage.</exception>
    public static async Task<byte[]> FetchAsync(string peerUrl, TimeSpan timeout, TlsHandshake? tls, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream? stream = null;
        try
        {
            var endpoint = PeerUrl.Parse(peerUrl);
            await socket.ConnectAsync(endpoint, deadline.Token).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (PeerTls.IsTlsUrl(peerUrl))
            {
                if (tls is null) throw new IOException($"{peerUrl} is https but no peer TLS is configured");
                stream = await tls.ConnectAsync(stream, PeerDialer.TargetHost(endpoint), deadline.Token).ConfigureAwait(false);
            }
            var hello = new byte[Handshake.HelloSize];
            Handshake.WriteHello(hello, new Hello(Handshake.ProtocolVersion, ConnectionKind.Members, 0, 0, 0));
            await stream.WriteAsync(hello, deadline.Token).ConfigureAwait(false);
            var reply = await ReadExactlyAsync(stream, Handshake.ReplySize, deadline.Token).ConfigureAwait(false);
            var parsed = Handshake.ReadReply(reply, out var error) ?? throw new IOException($"{peerUrl}: {error}");
            if (parsed.Code != HandshakeCode.Accepted)
                throw new IOException($"{peerUrl} refused the membership request: {Handshake.Describe(parsed.Code)}");
            var length = BinaryPrimitives.ReadInt32BigEndian(await ReadExactlyAsync(stream, 4, deadline.Token).ConfigureAwait(false));
            if (length < 0 || length > MaxAnswerBytes)
                throw new IOException($"{peerUrl} answered a membership of {length} bytes");
            return await ReadExactlyAsync(stream, length, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new IOException($"{peerUrl} did not answer the membership request within {timeout.TotalMilliseconds} ms");
        }
        catch (SocketException ex)
        {
            throw new IOException($"{peerUrl}: {ex.Message}", ex);
        }
        catch (TlsHandshakeException ex)
        {
            throw new IOException($"{peerUrl}: {ex.Message}", ex);
        }
        finally
        {
            if (stream is not null) await stream.DisposeAsync().ConfigureAwait(false);
            socket.Dispose();
        }
    }

    /// <summary>Without TLS: see <see cref="FetchAsync(string, TimeSpan, TlsHandshake?, CancellationToken)"/>.</summary>
    public static Task<byte[]> FetchAsync(string peerUrl, TimeSpan timeout, CancellationToken ct) => FetchAsync(peerUrl, timeout, null, ct);

    private static async Task<byte[]> ReadExactlyAsync(Stream stream, int count, CancellationToken ct)
    {
        var buffer = new byte[count];
        if (await stream.ReadAtLeastAsync(buffer, count, throwOnEndOfStream: false, ct).ConfigureAwait(false) < count)
            throw new IOException("the peer closed the connection early");
        return buffer;
    }
}
