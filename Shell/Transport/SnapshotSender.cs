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

    /// <summary>
    /// Starts sending <paramref name="m"/> (a MsgSnap whose Snapshot.Data is the payload, or, with
    /// <paramref name="checkpoint"/>, the membership that goes ahead of the streamed checkpoint);
    /// never blocks. The checkpoint is disposed once sent or failed.
    /// </summary>
    public void Send(Message m, Raft.Interop.IStateCheckpoint? checkpoint = null)
    {
        lock (gate)
        {
            if (stopped)
            {
                checkpoint?.Dispose();
                return;
            }
            inflight.RemoveAll(t => t.IsCompleted);
            inflight.Add(Task.Run(async () =>
            {
                try
                {
                    await SendAsync(m, checkpoint, stop.Token).ConfigureAwait(false);
                }
                finally
                {
                    checkpoint?.Dispose();
                }
            }));
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

    private async Task SendAsync(Message m, Raft.Interop.IStateCheckpoint? checkpoint, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var index = m.Snapshot.Metadata.Index;
        long bytes = m.Snapshot.Data.Length;
        ctx.Log.SnapshotSending(index, peer, bytes);
        string? error;
        try
        {
            (error, var streamed) = await TrySendAsync(m, checkpoint, ct).ConfigureAwait(false);
            bytes += streamed;
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

    /// <summary>
    /// One attempt: null when the receiver acknowledged delivery, else why not; and the checkpoint
    /// bytes streamed.
    /// </summary>
    private async Task<(string? Error, long Streamed)> TrySendAsync(Message m, Raft.Interop.IStateCheckpoint? checkpoint, CancellationToken ct)
    {
        var endpoint = picker.Pick();
        var dial = await dialer.DialAsync(peerId, endpoint, ConnectionKind.Snapshot, ct).ConfigureAwait(false);
        if (dial.Stream is null)
        {
            picker.Unreachable(endpoint);
            return (dial.Error, 0);
        }

        // The message travels without its data; the data follows as the length-prefixed payload.
        // With a checkpoint, the data (the membership alone) stays in the message and the
        // checkpoint follows in chunks.
        var header = RaftpbConvert.ToProto(m);
        if (checkpoint is null)
            header.Snapshot.ClearData();
        var size = header.CalculateSize();
        if (size > ctx.Options.MaxFrameSize)
        {
            await dial.Stream.DisposeAsync().ConfigureAwait(false);
            return ($"snapshot message of {size} bytes exceeds the frame limit of {ctx.Options.MaxFrameSize} bytes", 0);
        }
        var head = new ArrayBufferWriter<byte>(MessageFrames.LengthPrefixSize + size + MessageFrames.PayloadLengthSize);
        MessageFrames.Write(head, header, size);
        var data = checkpoint is null ? m.Snapshot.Data : [];
        BinaryPrimitives.WriteUInt64BigEndian(head.GetSpan(MessageFrames.PayloadLengthSize),
            checkpoint is null ? (ulong)data.Length : CheckpointChunks.StreamedMarker);
        head.Advance(MessageFrames.PayloadLengthSize);
        long streamed = 0;

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
            if (checkpoint is not null)
            {
                var chunks = new CheckpointChunks.WriteStream(stream, timeout, ctx.Options.WriteTimeout);
                await checkpoint.WriteToAsync(chunks, timeout.Token).ConfigureAwait(false);
                await chunks.CompleteAsync().ConfigureAwait(false);
                streamed = chunks.Written;
            }

            timeout.CancelAfter(ctx.Options.WriteTimeout);
            var ack = new byte[1];
            var n = await stream.ReadAsync(ack, timeout.Token).ConfigureAwait(false);
            if (n == 0) return ("remote peer closed the connection without acknowledging the snapshot", streamed);
            return ((SnapshotAck)ack[0] switch
            {
                SnapshotAck.Delivered => null,
                SnapshotAck.Busy => "remote peer dropped the snapshot: its receive buffer is full",
                SnapshotAck.Refused => "remote peer refused the snapshot",
                var other => $"unknown snapshot acknowledgement {(byte)other}",
            }, streamed);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return ($"timed out after {ctx.Options.WriteTimeout.TotalMilliseconds} ms without progress", streamed);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            return (ex.Message, streamed);
        }
    }
}
