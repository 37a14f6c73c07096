using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Sockets;
using Raft.Core;
using Raft.Interop.Wire;

namespace Raft.Shell.Transport;

/// <summary>
/// A snapshot connection (etcd's snapshot handler): reads the MsgSnap frame, then the payload into
/// one array, and only then hands the message to raft (with the payload as its Snapshot.Data); the
/// one-byte answer tells the sender the outcome. A persistent state machine's checkpoint (chunked,
/// see <see cref="CheckpointChunks"/>) goes to a file in the data directory instead, fsynced
/// before raft gets the message.
/// </summary>
internal sealed class SnapshotReceiver(TransportContext ctx, string remoteAddress, ulong sender)
{
    private readonly string senderId = TransportLog.Id(sender);

    public async Task RunAsync(PipeReader reader, Stream stream, CancellationToken token)
    {
        var started = Stopwatch.GetTimestamp();
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(token);
        var (m, error) = await ReadSnapshotAsync(reader, idle, token).ConfigureAwait(false);
        var ack = SnapshotAck.Refused;
        if (m is not null)
        {
            ack = ctx.Raft.TryProcess(m) ? SnapshotAck.Delivered : SnapshotAck.Busy;
            if (ack == SnapshotAck.Busy) error = "dropped: raft's receive buffer is full";
        }

        if (ack == SnapshotAck.Delivered)
        {
            var bytes = (long)m!.Snapshot.Data.Length;
            ctx.Log.SnapshotReceived(ctx.LocalId, senderId, m.Snapshot.Metadata.Index, bytes, Stopwatch.GetElapsedTime(started));
            ctx.Metrics.SnapshotReceive.Add(1, TransportMetrics.From(senderId));
            ctx.Metrics.SnapshotReceiveSeconds.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, TransportMetrics.From(senderId));
        }
        else
        {
            ctx.Log.SnapshotReceiveFailed(ctx.LocalId, senderId, remoteAddress, error ?? "unknown");
            ctx.Metrics.ReceivedFailures.Add(1, TransportMetrics.From(senderId));
            ctx.Metrics.SnapshotReceiveFailures.Add(1, TransportMetrics.From(senderId));
        }

        try
        {
            using var write = CancellationTokenSource.CreateLinkedTokenSource(token);
            write.CancelAfter(ctx.Options.WriteTimeout);
            await stream.WriteAsync(new[] { (byte)ack }, write.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            // The sender stopped reading; it will time out and report the failure itself.
        }
    }

    private async Task<(Message? Message, string? Error)> ReadSnapshotAsync(
        PipeReader reader, CancellationTokenSource idle, CancellationToken token)
    {
        var tag = TransportMetrics.From(senderId);
        try
        {
            Message m;
            while (true)
            {
                idle.CancelAfter(ctx.Options.ReadTimeout);
                var result = await reader.ReadAsync(idle.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                var status = MessageFrames.TryRead(ref buffer, ctx.Options.MaxFrameSize, out var payload, out var length);
                if (status == MessageFrames.ReadStatus.TooLarge)
                    return (null, $"frame of {length} bytes exceeds the limit of {ctx.Options.MaxFrameSize} bytes");
                if (status == MessageFrames.ReadStatus.Frame)
                {
                    try
                    {
                        m = MessageFrames.Decode(payload);
                    }
                    catch (WireFormatException ex)
                    {
                        return (null, $"undecodable message: {ex.Message}");
                    }
                    ctx.Metrics.ReceivedBytes.Add(MessageFrames.LengthPrefixSize + length, tag);
                    reader.AdvanceTo(buffer.Start);
                    break;
                }
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted) return (null, "connection closed before the snapshot message");
            }
            if (!m.Type.IsMsgSnap) return (null, $"unexpected message type {CoreAdapter.MessageTypeName(m.Type)} on a snapshot connection");
            if (m.From != sender || m.To != ctx.MemberId)
                return (null, $"message from {TransportLog.Id(m.From)} to {TransportLog.Id(m.To)} on a connection from {senderId} to {ctx.LocalId}");

            idle.CancelAfter(ctx.Options.ReadTimeout);
            var lengthResult = await reader.ReadAtLeastAsync(MessageFrames.PayloadLengthSize, idle.Token).ConfigureAwait(false);
            if (lengthResult.Buffer.Length < MessageFrames.PayloadLengthSize) return (null, "connection closed before the snapshot payload");
            Span<byte> prefix = stackalloc byte[MessageFrames.PayloadLengthSize];
            lengthResult.Buffer.Slice(0, MessageFrames.PayloadLengthSize).CopyTo(prefix);
            reader.AdvanceTo(lengthResult.Buffer.GetPosition(MessageFrames.PayloadLengthSize));
            var size = BinaryPrimitives.ReadUInt64BigEndian(prefix);
            if (size == CheckpointChunks.StreamedMarker)
                return await ReceiveCheckpointAsync(m, reader, idle).ConfigureAwait(false);
            if (size > (ulong)ctx.Options.MaxSnapshotSize)
                return (null, $"snapshot payload of {size} bytes exceeds the limit of {ctx.Options.MaxSnapshotSize} bytes");

            ctx.Log.SnapshotReceiving(ctx.LocalId, senderId, m.Snapshot.Metadata.Index, (long)size);
            var data = GC.AllocateUninitializedArray<byte>((int)size);
            var filled = 0;
            while (filled < data.Length)
            {
                idle.CancelAfter(ctx.Options.ReadTimeout);
                var result = await reader.ReadAsync(idle.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                var take = (int)Math.Min(buffer.Length, data.Length - filled);
                buffer.Slice(0, take).CopyTo(data.AsSpan(filled));
                filled += take;
                reader.AdvanceTo(buffer.GetPosition(take));
                if (filled < data.Length && result.IsCompleted)
                    return (null, $"connection closed after {filled} of {data.Length} payload bytes");
            }
            ctx.Metrics.ReceivedBytes.Add(data.Length + MessageFrames.PayloadLengthSize, tag);
            return (WithData(m, data), null);
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            return (null, $"no data for {ctx.Options.ReadTimeout.TotalMilliseconds} ms");
        }
    }

    /// <summary>
    /// A persistent state machine's checkpoint after the MsgSnap (whose data, the membership, came
    /// in the frame): onto disk, fsynced, before raft gets the message.
    /// </summary>
    private async Task<(Message? Message, string? Error)> ReceiveCheckpointAsync(Message m, PipeReader reader, CancellationTokenSource idle)
    {
        if (ctx.Options.CheckpointDataDir is not { } dataDir)
            return (null, "a streamed checkpoint arrived, but this member keeps no checkpoints (no data directory configured)");
        var index = m.Snapshot.Metadata.Index;
        ctx.Log.SnapshotReceiving(ctx.LocalId, senderId, index, -1);
        var path = Storage.NodeStorage.CheckpointPath(dataDir, index);
        var (bytes, error) = await CheckpointChunks.ReceiveToFileAsync(reader, path, ctx.Options.MaxCheckpointSize, idle, ctx.Options.ReadTimeout)
            .ConfigureAwait(false);
        ctx.Metrics.ReceivedBytes.Add(bytes + MessageFrames.PayloadLengthSize, TransportMetrics.From(senderId));
        return error is null ? (m, null) : (null, error);
    }

    private static Message WithData(Message m, byte[] data) =>
        new(m.Type, m.To, m.From, m.Term, m.LogTerm, m.Index, m.Entries, m.Commit,
            new Snapshot(data, m.Snapshot.Metadata), m.Reject, m.RejectHint, m.Context);
}
