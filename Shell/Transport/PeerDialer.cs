using System.Net;
using System.Net.Sockets;

namespace Raft.Shell.Transport;

/// <summary>A dialled, handshaken connection, or why there is none.</summary>
internal readonly record struct DialResult(Socket? Socket, string? Error)
{
    public static DialResult Failed(string error) => new(null, error);
}

/// <summary>
/// Opens a connection to a peer and performs the dialer's half of the handshake. A refusal is
/// logged here with the peer's reason (and reported to raft when it says this member was removed).
/// </summary>
internal sealed class PeerDialer(TransportContext ctx)
{
    public async Task<DialResult> DialAsync(ulong peerId, EndPoint endpoint, ConnectionKind kind, CancellationToken ct)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            timeout.CancelAfter(ctx.Options.DialTimeout);
            try
            {
                await socket.ConnectAsync(endpoint, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                socket.Dispose();
                return DialResult.Failed($"dial {endpoint} timed out after {ctx.Options.DialTimeout.TotalMilliseconds} ms");
            }

            timeout.CancelAfter(ctx.Options.HandshakeTimeout);
            var hello = new byte[Handshake.HelloSize];
            Handshake.WriteHello(hello, new Hello(Handshake.ProtocolVersion, kind, ctx.ClusterId, ctx.MemberId, peerId));
            for (var sent = 0; sent < hello.Length;)
                sent += await socket.SendAsync(hello.AsMemory(sent), SocketFlags.None, timeout.Token).ConfigureAwait(false);

            var reply = new byte[Handshake.ReplySize];
            for (var read = 0; read < reply.Length;)
            {
                var n = await socket.ReceiveAsync(reply.AsMemory(read), SocketFlags.None, timeout.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    socket.Dispose();
                    return DialResult.Failed($"{endpoint} closed the connection during the handshake");
                }
                read += n;
            }

            var parsed = Handshake.ReadReply(reply, out var error);
            if (parsed is not { } r)
            {
                socket.Dispose();
                return DialResult.Failed(error!);
            }
            if (r.Code != HandshakeCode.Accepted)
            {
                socket.Dispose();
                return DialResult.Failed(Refused(peerId, endpoint, r));
            }
            return new DialResult(socket, null);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            socket.Dispose();
            return DialResult.Failed($"handshake with {endpoint} timed out after {ctx.Options.HandshakeTimeout.TotalMilliseconds} ms");
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException)
        {
            socket.Dispose();
            return DialResult.Failed($"dial {endpoint}: {ex.Message}");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private string Refused(ulong peerId, EndPoint endpoint, HelloReply r)
    {
        var peer = TransportLog.Id(peerId);
        var reason = Handshake.Describe(r.Code);
        switch (r.Code)
        {
            case HandshakeCode.ClusterIdMismatch:
                ctx.Log.RefusedClusterMismatch(peer, TransportLog.Id(r.ClusterId), ctx.LocalId, TransportLog.Id(ctx.ClusterId));
                break;
            case HandshakeCode.MemberRemoved:
                ctx.Log.RemovedFromCluster(peer, ctx.LocalId);
                ctx.Raft.ReportRemoved(peerId);
                break;
            case HandshakeCode.ReceiverMismatch:
                reason = $"{reason}: {endpoint} is member {TransportLog.Id(r.MemberId)}, not {peer}";
                ctx.Log.RefusedByPeer(peer, ctx.LocalId, endpoint.ToString() ?? "", reason);
                break;
            default:
                ctx.Log.RefusedByPeer(peer, ctx.LocalId, endpoint.ToString() ?? "", reason);
                break;
        }
        return $"refused by remote peer: {reason}";
    }
}
