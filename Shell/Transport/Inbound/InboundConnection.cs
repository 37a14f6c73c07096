using System.IO.Pipelines;
using System.Net.Sockets;
using Raft.Shell.Transport.Tls;

namespace Raft.Shell.Transport;

/// <summary>
/// One accepted connection: checks the hello (<see cref="InboundHandshake"/>), answers it, then hands
/// the connection to the handler of its kind: a message stream (<see cref="MessageStreamReceiver"/>),
/// one snapshot (<see cref="SnapshotReceiver"/>) or a membership request
/// (<see cref="MembersResponder"/>). Anything wrong on the wire closes this connection only, with a
/// logged reason.
/// </summary>
internal sealed class InboundConnection
{
    private readonly TransportContext ctx;
    private readonly Socket socket;
    private readonly Func<ulong, bool> isKnownPeer;
    private readonly CancellationTokenSource abort = new();
    private long from;

    public InboundConnection(TransportContext ctx, Socket socket, Func<ulong, bool> isKnownPeer)
    {
        this.ctx = ctx;
        this.socket = socket;
        this.isKnownPeer = isKnownPeer;
        RemoteAddress = socket.RemoteEndPoint?.ToString() ?? "unknown";
    }

    public string RemoteAddress { get; }

    /// <summary>The sender's member id once its hello was accepted; 0 before.</summary>
    public ulong From => (ulong)Interlocked.Read(ref from);

    /// <summary>Closes the connection (its member was removed, or the transport stops).</summary>
    public void Abort()
    {
        try
        {
            abort.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public async Task RunAsync(CancellationToken ct)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, abort.Token);
        var token = linked.Token;
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        // Disposing the socket is what unblocks a pending read on cancellation.
        await using var unblock = token.Register(socket.Dispose).ConfigureAwait(false);
        if (ctx.Tls is { } tls)
        {
            using var handshakeTimeout = CancellationTokenSource.CreateLinkedTokenSource(token);
            handshakeTimeout.CancelAfter(ctx.Options.HandshakeTimeout);
            try
            {
                stream = await tls.AcceptAsync(stream, handshakeTimeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TlsHandshakeException or OperationCanceledException)
            {
                if (!token.IsCancellationRequested)
                    ctx.Log.TlsRejected(RemoteAddress, ctx.LocalId, ex is TlsHandshakeException ? ex.Message : $"no TLS handshake within {ctx.Options.HandshakeTimeout.TotalMilliseconds} ms");
                await stream.DisposeAsync().ConfigureAwait(false);
                abort.Dispose();
                return;
            }
        }
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: true));
        var sender = "unknown";
        try
        {
            var handshake = new InboundHandshake(ctx, RemoteAddress, isKnownPeer);
            var hello = await handshake.ReadHelloAsync(reader, token).ConfigureAwait(false);
            if (hello is not { } h) return;
            sender = TransportLog.Id(h.From);
            var code = handshake.Check(h);
            var reply = new byte[Handshake.ReplySize];
            Handshake.WriteReply(reply, new HelloReply(Handshake.ProtocolVersion, code, ctx.ClusterId, ctx.MemberId));
            await stream.WriteAsync(reply, token).ConfigureAwait(false);
            if (code != HandshakeCode.Accepted) return;

            switch (h.Kind)
            {
                case ConnectionKind.Members:
                    await MembersResponder.WriteAsync(ctx, stream, token).ConfigureAwait(false);
                    break;
                case ConnectionKind.Messages:
                    Interlocked.Exchange(ref from, (long)h.From);
                    await new MessageStreamReceiver(ctx, RemoteAddress, h.From).RunAsync(reader, token).ConfigureAwait(false);
                    break;
                case ConnectionKind.Snapshot:
                    Interlocked.Exchange(ref from, (long)h.From);
                    await new SnapshotReceiver(ctx, RemoteAddress, h.From).RunAsync(reader, stream, token).ConfigureAwait(false);
                    break;
                default:
                    // Check accepts only the kinds above.
                    throw new InvalidOperationException($"accepted an unsupported connection kind {(byte)h.Kind}");
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Stopping or aborted: nothing to report.
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            if (!token.IsCancellationRequested) ctx.Log.InboundClosed(ctx.LocalId, sender, ex.Message);
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            await stream.DisposeAsync().ConfigureAwait(false);
            abort.Dispose();
        }
    }
}
