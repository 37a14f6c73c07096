using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using Raft.Core;
using Raft.Interop.Wire;

namespace Raft.Shell.Transport;

/// <summary>
/// Sends MsgSnap to one peer, each on its own connection so a large payload never holds up the
/// message stream (etcd's snapshotSender). The outcome goes back to raft: SnapshotFinish once the
/// receiver acknowledges that the whole payload arrived and was handed to its raft; otherwise
/// ReportUnreachable and SnapshotFailure, as etcd does.
/// </summary>
internal sealed class SnapshotSender(TransportContext ctx, ulong peerId, PeerStatus status, UrlPicker picker, PeerDialer dialer)
    : IAsyncDisposable
{
    private const int ChunkSize = 1024 * 1024;

    private readonly string peer = TransportLog.Id(peerId);
    private readonly CancellationTokenSource stop = new();
    private readonly Lock gate = new();
    private readonly List<Task> inflight = [];
    private bool stopped;

    /// <summary>Starts sending <paramref name="m"/> (a MsgSnap whose Snapshot.Data is the payload); never blocks.</summary>
    public void Send(Message m)
    {
        lock (gate)
        {
            if (stopped) return;
            inflight.RemoveAll(t => t.IsCompleted);
            inflight.Add(Task.Run(() => SendAsync(m, stop.Token)));
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task[] pending;
        lock (gate)
        {
            stopped = true;
            pending = [.. inflight];
        }
        await stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(pending).ConfigureAwait(false);
        stop.Dispose();
    }

    private async Task SendAsync(Message m, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var index = m.Snapshot.Metadata.Index;
        long bytes = m.Snapshot.Data.Length;
        ctx.Log.SnapshotSending(index, peer, bytes);
        string? error;
        try
        {
            error = await TrySendAsync(m, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            error = "stopped";
        }

        if (error is null)
        {
            status.Activate();
            ctx.Raft.ReportSnapshot(peerId, SnapshotStatus.SnapshotFinish);
            ctx.Log.SnapshotSent(index, peer, bytes);
            ctx.Metrics.SentBytes.Add(bytes, TransportMetrics.To(peer));
            ctx.Metrics.SnapshotSend.Add(1, TransportMetrics.To(peer));
            ctx.Metrics.SnapshotSendSeconds.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, TransportMetrics.To(peer));
            return;
        }
        ctx.Log.SnapshotSendFailed(index, peer, bytes, error);
        status.Deactivate("sendMsgSnap", "post", error);
        ctx.Raft.ReportUnreachable(peerId);
        ctx.Raft.ReportSnapshot(peerId, SnapshotStatus.SnapshotFailure);
        ctx.Metrics.SentFailures.Add(1, TransportMetrics.To(peer));
        ctx.Metrics.SnapshotSendFailures.Add(1, TransportMetrics.To(peer));
    }

    /// <summary>One attempt: null when the receiver acknowledged delivery, else why not.</summary>
    private async Task<string?> TrySendAsync(Message m, CancellationToken ct)
    {
        var endpoint = picker.Pick();
        var dial = await dialer.DialAsync(peerId, endpoint, ConnectionKind.Snapshot, ct).ConfigureAwait(false);
        if (dial.Stream is null)
        {
            picker.Unreachable(endpoint);
            return dial.Error;
        }

        // The message travels without its data; the data follows as the length-prefixed payload.
        var header = RaftpbConvert.ToProto(m);
        header.Snapshot.ClearData();
        var size = header.CalculateSize();
        if (size > ctx.Options.MaxFrameSize)
        {
            await dial.Stream.DisposeAsync().ConfigureAwait(false);
            return $"snapshot message of {size} bytes exceeds the frame limit of {ctx.Options.MaxFrameSize} bytes";
        }
        var head = new ArrayBufferWriter<byte>(MessageFrames.LengthPrefixSize + size + MessageFrames.PayloadLengthSize);
        MessageFrames.Write(head, header, size);
        var data = m.Snapshot.Data;
        BinaryPrimitives.WriteUInt64BigEndian(head.GetSpan(MessageFrames.PayloadLengthSize), (ulong)data.Length);
        head.Advance(MessageFrames.PayloadLengthSize);

        await using var stream = dial.Stream;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            timeout.CancelAfter(ctx.Options.WriteTimeout);
            await stream.WriteAsync(head.WrittenMemory, timeout.Token).ConfigureAwait(false);
            for (var offset = 0; offset < data.Length; offset += ChunkSize)
            {
                timeout.CancelAfter(ctx.Options.WriteTimeout);
                await stream.WriteAsync(data.AsMemory(offset, Math.Min(ChunkSize, data.Length - offset)), timeout.Token).ConfigureAwait(false);
            }

            timeout.CancelAfter(ctx.Options.WriteTimeout);
            var ack = new byte[1];
            var n = await stream.ReadAsync(ack, timeout.Token).ConfigureAwait(false);
            if (n == 0) return "remote peer closed the connection without acknowledging the snapshot";
            return (SnapshotAck)ack[0] switch
            {
                SnapshotAck.Delivered => null,
                SnapshotAck.Busy => "remote peer dropped the snapshot: its receive buffer is full",
                SnapshotAck.Refused => "remote peer refused the snapshot",
                var other => $"unknown snapshot acknowledgement {(byte)other}",
            };
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return $"timed out after {ctx.Options.WriteTimeout.TotalMilliseconds} ms without progress";
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            return ex.Message;
        }
    }
}
