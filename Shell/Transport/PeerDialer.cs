using System.Net;
using System.Net.Sockets;
using Raft.Shell.Transport.Tls;

namespace Raft.Shell.Transport;

/// <summary>A dialled, handshaken connection (TLS when the transport has peer TLS), or why there is none.</summary>
internal readonly record struct DialResult(Stream? Stream, string? Error)
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
        if (SourceAddress(ctx.Options.ListenPeerUrls, endpoint) is { } source)
        {
            try
            {
                socket.Bind(new IPEndPoint(socket.AddressFamily == AddressFamily.InterNetworkV6 ? source.MapToIPv6() : source, 0));
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                return DialResult.Failed($"bind {source} to dial {endpoint}: {ex.Message}");
            }
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Stream? stream = null;
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
            stream = new NetworkStream(socket, ownsSocket: true);
            if (ctx.Tls is { } tls)
                stream = await tls.ConnectAsync(stream, TargetHost(endpoint), timeout.Token).ConfigureAwait(false);
            var hello = new byte[Handshake.HelloSize];
            Handshake.WriteHello(hello, new Hello(Handshake.ProtocolVersion, kind, ctx.ClusterId, ctx.MemberId, peerId));
            await stream.WriteAsync(hello, timeout.Token).ConfigureAwait(false);

            var reply = new byte[Handshake.ReplySize];
            if (await stream.ReadAtLeastAsync(reply, reply.Length, throwOnEndOfStream: false, timeout.Token).ConfigureAwait(false) < reply.Length)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                return DialResult.Failed($"{endpoint} closed the connection during the handshake");
            }

            var parsed = Handshake.ReadReply(reply, out var error);
            if (parsed is not { } r)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                return DialResult.Failed(error!);
            }
            if (r.Code != HandshakeCode.Accepted)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                return DialResult.Failed(Refused(peerId, endpoint, r));
            }
            return new DialResult(stream, null);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            Close(socket, stream);
            return DialResult.Failed($"handshake with {endpoint} timed out after {ctx.Options.HandshakeTimeout.TotalMilliseconds} ms");
        }
        catch (TlsHandshakeException ex)
        {
            Close(socket, stream);
            ctx.Log.TlsDialFailed(ctx.LocalId, TransportLog.Id(peerId), endpoint.ToString() ?? "", ex.Message);
            return DialResult.Failed($"dial {endpoint}: {ex.Message}");
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException)
        {
            Close(socket, stream);
            return DialResult.Failed($"dial {endpoint}: {ex.Message}");
        }
        catch
        {
            Close(socket, stream);
            throw;
        }
    }

    private static void Close(Socket socket, Stream? stream)
    {
        stream?.Dispose();
        socket.Dispose();
    }

    /// <summary>The name the peer's certificate must be valid for: the URL's host, an IP literal or a DNS name.</summary>
    internal static string TargetHost(EndPoint endpoint) => endpoint switch
    {
        IPEndPoint ip => (ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address).ToString(),
        DnsEndPoint d => d.Host,
        _ => endpoint.ToString() ?? "",
    };

    /// <summary>
    /// The address outgoing peer connections start from: the host of the first listen-peer URL when
    /// it is a specific IP of the same family and scope (loopback or not) as the target, else none
    /// (the kernel picks). A member listening on its own loopback address (127.0.1.2) would otherwise
    /// dial from 127.0.0.1, and peers could not tell its traffic apart, nor could a firewall rule.
    /// </summary>
    internal static IPAddress? SourceAddress(IList<string> listenPeerUrls, EndPoint target)
    {
        if (listenPeerUrls.Count == 0 || target is not IPEndPoint { Address: var to }) return null;
        IPAddress from;
        try
        {
            from = PeerUrl.ParseListen(listenPeerUrls[0]).Address;
        }
        catch (FormatException)
        {
            return null;
        }
        if (to.IsIPv4MappedToIPv6) to = to.MapToIPv4();
        if (from.IsIPv4MappedToIPv6) from = from.MapToIPv4();
        if (from.Equals(IPAddress.Any) || from.Equals(IPAddress.IPv6Any)) return null;
        if (from.AddressFamily != to.AddressFamily || IPAddress.IsLoopback(from) != IPAddress.IsLoopback(to)) return null;
        return from;
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
