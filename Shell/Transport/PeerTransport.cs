using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Raft.Core;
using Raft.Shell.Node;
using Raft.Shell.Node.Advanced;

namespace Raft.Shell.Transport;

/// <summary>
/// TCP between the members of one cluster (etcd's rafthttp.Transport, over plain TCP instead of
/// HTTP). Outbound: one bounded queue and one connection per peer, <see cref="Send(Message)"/>
/// never blocks, MsgSnap on a connection of its own; failures are reported to raft through
/// <see cref="ITransportRaft"/>. Inbound: listeners on <see cref="PeerTransportOptions.ListenPeerUrls"/>
/// that accept only members of this cluster that are in the current peer set and not removed.
/// The peer set follows membership: <see cref="AddPeer"/>, <see cref="RemovePeerAsync"/>,
/// <see cref="UpdatePeer"/>. Every connection opens with a handshake and carries length-prefixed
/// raftpb.Message frames; see <c>Handshake</c> and <c>MessageFrames</c> for the bytes.
/// </summary>
internal sealed class PeerTransport : IPeerTransport, IAsyncDisposable
{
    private readonly TransportContext ctx;
    private readonly PeerDialer dialer;
    private readonly Lock gate = new();
    private readonly ConcurrentDictionary<InboundConnection, Task> inbound = new();
    private readonly CancellationTokenSource stopping = new();
    private readonly List<PeerListener> listeners = [];
    private readonly TransportMetrics metrics;
    private readonly List<Task> removals = [];

    // Copy-on-write, so Send reads it without a lock.
    private volatile Dictionary<ulong, Peer> peers = [];
    private bool started;
    private bool stopped;

    /// <summary>Creates a transport; nothing is bound or dialled until <see cref="StartAsync"/> / <see cref="AddPeer"/>.</summary>
    /// <param name="options">Identity, listen URLs and limits; validated here.</param>
    /// <param name="raft">Where received messages go and send outcomes are reported.</param>
    /// <param name="logger">The transport's log; none when null.</param>
    /// <param name="meterFactory">Creates the "Raft.Node" meter; a private meter when null.</param>
    public PeerTransport(PeerTransportOptions options, ITransportRaft raft, ILogger<PeerTransport>? logger = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(raft);
        options.Validate();
        metrics = new TransportMetrics(meterFactory);
        ctx = new TransportContext(options, raft, (ILogger?)logger ?? NullLogger.Instance, metrics);
        dialer = new PeerDialer(ctx);
    }

    /// <summary>The endpoints the listeners are bound to (real ports when 0 was asked for); empty before start.</summary>
    public IReadOnlyList<IPEndPoint> ListenEndpoints
    {
        get
        {
            lock (gate) return listeners.Select(l => l.LocalEndPoint).ToArray();
        }
    }

    /// <summary>The ids of the current peers.</summary>
    public IReadOnlyCollection<ulong> PeerIds => peers.Keys;

    /// <summary>How many peers are reachable right now (etcd's ActivePeers).</summary>
    public int ActivePeers => peers.Values.Count(p => p.Status.IsActive);

    /// <summary>Since when the peer has been reachable; null when it is not, or unknown (etcd's ActiveSince).</summary>
    public DateTimeOffset? ActiveSince(ulong id) => peers.TryGetValue(id, out var p) ? p.Status.ActiveSince : null;

    /// <summary>Binds every listen URL and starts accepting. Binding is synchronous; a bad address throws.</summary>
    /// <exception cref="SocketException">An address could not be bound (in use, not local).</exception>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(stopped, this);
            if (started) throw new InvalidOperationException("the transport is already started");
            started = true;
            try
            {
                foreach (var url in ctx.Options.ListenPeerUrls)
                    listeners.Add(new PeerListener(ctx, PeerUrl.ParseListen(url), Accept));
            }
            catch
            {
                // Leave nothing half-bound behind.
                foreach (var l in listeners) l.DisposeAsync().AsTask().GetAwaiter().GetResult();
                listeners.Clear();
                throw;
            }
        }
        return Task.CompletedTask;
    }

    /// <summary>Sends one message to its <c>To</c>; never blocks. Messages to unknown peers are ignored, as etcd does.</summary>
    public void Send(Message message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.To == 0) return;
        if (peers.TryGetValue(message.To, out var p)) p.Send(message);
        else ctx.Log.UnknownTarget(CoreAdapter.MessageTypeName(message.Type), TransportLog.Id(message.To));
    }

    /// <summary>Sends each message in order; never blocks.</summary>
    public void Send(IReadOnlyList<Message> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        foreach (var m in messages) Send(m);
    }

    /// <summary>Sends a MsgSnap (Snapshot.Data holding the state machine's snapshot) on a connection of its own.</summary>
    /// <exception cref="ArgumentException">The message is not a MsgSnap.</exception>
    public void SendSnapshot(Message message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!message.Type.IsMsgSnap) throw new ArgumentException($"SendSnapshot takes MsgSnap, not {CoreAdapter.MessageTypeName(message.Type)}", nameof(message));
        Send(message);
    }

    /// <summary>
    /// Sends a persistent state machine's MsgSnap (Snapshot.Data holding the membership) with
    /// <paramref name="checkpoint"/> streamed after it on a connection of its own; the checkpoint is
    /// disposed once sent or failed.
    /// </summary>
    /// <exception cref="ArgumentException">The message is not a MsgSnap.</exception>
    public void SendSnapshot(Message message, Raft.Interop.IStateCheckpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(checkpoint);
        if (!message.Type.IsMsgSnap)
        {
            checkpoint.Dispose();
            throw new ArgumentException($"SendSnapshot takes MsgSnap, not {CoreAdapter.MessageTypeName(message.Type)}", nameof(message));
        }
        if (peers.TryGetValue(message.To, out var p))
            p.SendSnapshot(message, checkpoint);
        else
        {
            checkpoint.Dispose();
            ctx.Log.UnknownTarget(CoreAdapter.MessageTypeName(message.Type), TransportLog.Id(message.To));
        }
    }

    /// <summary>Adds a member to send to and accept from (etcd's AddPeer); a known id is left as it is.</summary>
    /// <exception cref="FormatException">A URL is malformed.</exception>
    public void AddPeer(ulong id, IReadOnlyList<string> urls)
    {
        ArgumentNullException.ThrowIfNull(urls);
        if (id == 0 || id == ctx.MemberId) throw new ArgumentException($"cannot add peer {TransportLog.Id(id)}", nameof(id));
        var list = urls.ToArray();
        UrlPicker.Parse(list); // fail before anything starts
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(stopped, this);
            if (peers.ContainsKey(id)) return;
            var next = new Dictionary<ulong, Peer>(peers) { [id] = new Peer(ctx, dialer, id, list) };
            peers = next;
        }
        ctx.Log.AddedPeer(ctx.LocalId, TransportLog.Id(id), string.Join(",", list));
    }

    /// <summary>Points a peer at new URLs (etcd's UpdatePeer); used from its next dial on. Unknown ids are ignored.</summary>
    /// <exception cref="FormatException">A URL is malformed.</exception>
    public void UpdatePeer(ulong id, IReadOnlyList<string> urls)
    {
        ArgumentNullException.ThrowIfNull(urls);
        var list = urls.ToArray();
        if (!peers.TryGetValue(id, out var p)) return;
        p.Update(list);
        ctx.Log.UpdatedPeer(ctx.LocalId, TransportLog.Id(id), string.Join(",", list));
    }

    /// <summary>
    /// Removes a member (etcd's RemovePeer): stops sending to it, closes its inbound connections and
    /// refuses new ones; completes when its tasks have ended. Unknown ids are ignored.
    /// </summary>
    public async Task RemovePeerAsync(ulong id)
    {
        Peer? removed;
        lock (gate)
        {
            if (!peers.TryGetValue(id, out removed)) return;
            var next = new Dictionary<ulong, Peer>(peers);
            next.Remove(id);
            peers = next;
        }
        foreach (var conn in inbound.Keys)
        {
            if (conn.From == id) conn.Abort();
        }
        await removed.DisposeAsync().ConfigureAwait(false);
        ctx.Log.RemovedPeer(ctx.LocalId, TransportLog.Id(id));
    }

    /// <summary>Removes every peer (etcd's RemoveAllPeers).</summary>
    public async Task RemoveAllPeersAsync()
    {
        foreach (var id in peers.Keys.ToArray()) await RemovePeerAsync(id).ConfigureAwait(false);
    }

    /// <summary>
    /// <see cref="RemovePeerAsync"/> without waiting: the peer is out of the peer set when this
    /// returns, its connections wind down in the background (<see cref="StopAsync"/> waits for them).
    /// </summary>
    public void RemovePeer(ulong id) => Track(RemovePeerAsync(id));

    /// <summary><see cref="RemoveAllPeersAsync"/> without waiting, like <see cref="RemovePeer"/>.</summary>
    public void RemoveAllPeers()
    {
        foreach (var id in peers.Keys.ToArray()) RemovePeer(id);
    }

    private void Track(Task removal)
    {
        lock (gate)
        {
            removals.RemoveAll(t => t.IsCompleted);
            if (!removal.IsCompleted) removals.Add(removal);
        }
    }

    /// <summary>
    /// Stops listening, closes every connection and ends every task. Pending snapshot sends are
    /// reported as failed. Idempotent.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        PeerListener[] ls;
        Peer[] ps;
        Task[] pendingRemovals;
        lock (gate)
        {
            if (stopped) return;
            stopped = true;
            ls = [.. listeners];
            listeners.Clear();
            ps = [.. peers.Values];
            peers = [];
            pendingRemovals = [.. removals];
        }
        foreach (var l in ls) await l.DisposeAsync().ConfigureAwait(false);
        await stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(ps.Select(p => p.DisposeAsync().AsTask())).WaitAsync(cancellationToken).ConfigureAwait(false);
        await Task.WhenAll(inbound.Values).WaitAsync(cancellationToken).ConfigureAwait(false);
        await Task.WhenAll(pendingRemovals).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Inbound connections open now (bounded by <see cref="PeerTransportOptions.MaxInboundConnections"/>).</summary>
    internal int InboundConnectionCount => inbound.Count;

    /// <summary>Stops the transport (see <see cref="StopAsync"/>) and releases its meter.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        stopping.Dispose();
        metrics.Dispose();
    }

    private void Accept(Socket socket)
    {
        if (inbound.Count >= ctx.Options.MaxInboundConnections)
        {
            ctx.Log.TooManyConnections(socket.RemoteEndPoint?.ToString() ?? "?", ctx.Options.MaxInboundConnections);
            socket.Dispose();
            return;
        }
        var conn = new InboundConnection(ctx, socket, id => peers.ContainsKey(id));
        var task = Task.Run(() => conn.RunAsync(stopping.Token));
        inbound[conn] = task;
        _ = task.ContinueWith(_ => inbound.TryRemove(conn, out Task? _), TaskScheduler.Default);
    }
}
