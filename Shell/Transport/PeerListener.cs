using System.Net;
using System.Net.Sockets;

namespace Raft.Shell.Transport;

/// <summary>
/// Accepts peer connections on one endpoint and hands each to <c>onAccepted</c>, which runs it on
/// its own task. A failed accept (say, out of file descriptors) is logged and retried; only
/// stopping ends the loop.
/// </summary>
internal sealed class PeerListener : IAsyncDisposable
{
    private readonly TransportContext ctx;
    private readonly Socket socket;
    private readonly Action<Socket> onAccepted;
    private readonly CancellationTokenSource stop = new();
    private readonly Task loop;

    public PeerListener(TransportContext ctx, IPEndPoint endpoint, Action<Socket> onAccepted)
    {
        this.ctx = ctx;
        this.onAccepted = onAccepted;
        socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6 && endpoint.Address.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
            socket.Bind(endpoint);
            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
        ctx.Log.Listening(LocalEndPoint.ToString(), ctx.LocalId, TransportLog.Id(ctx.ClusterId));
        loop = Task.Run(() => AcceptLoopAsync(stop.Token));
    }

    /// <summary>The bound endpoint (with the real port when 0 was asked for).</summary>
    public IPEndPoint LocalEndPoint { get; }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync().ConfigureAwait(false);
        socket.Dispose();
        await loop.ConfigureAwait(false);
        stop.Dispose();
    }

    private async Task AcceptLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await socket.AcceptAsync(ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ct.IsCancellationRequested && ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                ctx.Log.AcceptFailed(LocalEndPoint.ToString(), ex.Message);
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(50), ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }
            accepted.NoDelay = true;
            onAccepted(accepted);
        }
    }
}
