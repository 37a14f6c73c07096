using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Raft.Kv.Hosting;

/// <summary>
/// The first connection middleware of a client port: holds at most <see cref="KvServiceOptions.MaxClientConnections"/>
/// connections open at once on that port; one more is closed before any byte of it is read, and logged
/// with the limit's name (Kestrel's own limit logs no name an operator could look up).
/// </summary>
internal sealed partial class ClientConnectionLimit(ConnectionDelegate next, int max, ILogger logger)
{
    private int _open;

    /// <summary>Connections this port holds now.</summary>
    public int Open => Volatile.Read(ref _open);

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        if (Interlocked.Increment(ref _open) > max)
        {
            Interlocked.Decrement(ref _open);
            Rejected(logger, connection.RemoteEndPoint?.ToString() ?? "unknown", connection.LocalEndPoint?.ToString() ?? "unknown", max);
            connection.Abort(new ConnectionAbortedException($"too many open client connections (max-client-connections {max})"));
            return;
        }
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _open);
        }
    }

    [LoggerMessage(1, LogLevel.Warning, "rejected client connection: too many open connections (remote-address={RemoteAddress}, port={Port}, max-client-connections={Max})")]
    private static partial void Rejected(ILogger logger, string remoteAddress, string port, int max);
}
