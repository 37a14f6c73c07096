using System.Net;
using Microsoft.AspNetCore.Connections;

namespace Raft.Kv.Hosting;

/// <summary>
/// The HTTP/2 half of a client port: a Kestrel endpoint without a socket. Kestrel builds its HTTP/2
/// connection pipeline for it; <see cref="PrefaceRouter"/> hands it the port's HTTP/2 connections.
/// </summary>
/// <param name="port">The public endpoint it serves (for its name in logs and addresses).</param>
public sealed class Http2HandoffEndPoint(IPEndPoint port) : EndPoint
{
    /// <summary>The public endpoint this is the HTTP/2 half of.</summary>
    public IPEndPoint Port { get; } = port;

    /// <summary>Kestrel's HTTP/2 pipeline, set when Kestrel binds this endpoint.</summary>
    internal ConnectionDelegate? Pipeline { get; set; }

    /// <inheritdoc/>
    public override string ToString() => $"{Port} (HTTP/2 half)";
}

/// <summary>Binds <see cref="Http2HandoffEndPoint"/>s for Kestrel: a listener that never accepts.</summary>
public sealed class Http2HandoffListenerFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    /// <inheritdoc/>
    public bool CanBind(EndPoint endpoint) => endpoint is Http2HandoffEndPoint;

    /// <inheritdoc/>
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult<IConnectionListener>(new Listener(endpoint));

    // Its connections arrive through the public port's router, never through Accept: Accept waits
    // until Kestrel unbinds it, then reports the end (null).
    private sealed class Listener(EndPoint endPoint) : IConnectionListener
    {
        private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public EndPoint EndPoint => endPoint;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                await _closed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Kestrel stops accepting: the same end as an unbind.
            }
            return null;
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            _closed.TrySetResult();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            _closed.TrySetResult();
            return ValueTask.CompletedTask;
        }
    }
}
