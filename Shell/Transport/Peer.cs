using Raft.Core;

namespace Raft.Shell.Transport;

/// <summary>
/// A remote member as this node sends to it (etcd's peer): a message stream, a snapshot sender and
/// a status shared by both. Send never blocks; a message that cannot be queued is dropped and raft
/// is told the peer is unreachable.
/// </summary>
internal sealed class Peer : IAsyncDisposable
{
    private readonly TransportContext ctx;
    private readonly string peer;
    private readonly UrlPicker picker;
    private readonly StreamWriter writer;
    private readonly SnapshotSender snapshots;

    public Peer(TransportContext ctx, PeerDialer dialer, ulong id, IReadOnlyList<string> urls)
    {
        this.ctx = ctx;
        Id = id;
        peer = TransportLog.Id(id);
        picker = new UrlPicker(urls);
        Status = new PeerStatus(ctx, id);
        writer = new StreamWriter(ctx, id, Status, picker, dialer);
        snapshots = new SnapshotSender(ctx, id, Status, picker, dialer);
    }

    public ulong Id { get; }

    public PeerStatus Status { get; }

    public void Send(Message m)
    {
        // A snapshot can be large: it never shares the stream with other messages.
        if (m.Type.IsMsgSnap)
        {
            snapshots.Send(m);
            return;
        }
        switch (writer.TryEnqueue(m))
        {
            case StreamWriter.Enqueued.Queued:
                return;
            case StreamWriter.Enqueued.Full:
                ctx.Log.DroppedSendBufferFull(CoreAdapter.MessageTypeName(m.Type), ctx.LocalId, TransportLog.Id(m.From), peer, Status.IsActive);
                break;
            default:
                ctx.Log.DroppedPeerDown(CoreAdapter.MessageTypeName(m.Type), ctx.LocalId, peer);
                break;
        }
        ctx.Metrics.SentFailures.Add(1, TransportMetrics.To(peer));
        ctx.Raft.ReportUnreachable(m.To);
    }

    /// <summary>Sends a persistent state machine's MsgSnap with its streamed checkpoint (disposed once sent or failed).</summary>
    public void SendSnapshot(Message m, Raft.Interop.IStateCheckpoint checkpoint) => snapshots.Send(m, checkpoint);

    public void Update(IReadOnlyList<string> urls) => picker.Update(urls);

    public async ValueTask DisposeAsync()
    {
        await writer.DisposeAsync().ConfigureAwait(false);
        await snapshots.DisposeAsync().ConfigureAwait(false);
    }
}
