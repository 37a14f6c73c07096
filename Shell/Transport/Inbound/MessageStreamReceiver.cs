using System.Buffers;
using System.IO.Pipelines;
using Raft.Core;
using Raft.Interop.Wire;

namespace Raft.Shell.Transport;

/// <summary>
/// A message stream connection (etcd's streamReader decode loop): reads frames until the stream
/// ends and hands every message to raft. A bad frame, a message not from the member that said
/// hello or not for us, or silence past the read timeout closes the connection with a reason.
/// </summary>
internal sealed class MessageStreamReceiver(TransportContext ctx, string remoteAddress, ulong sender)
{
    private readonly string senderId = TransportLog.Id(sender);

    public async Task RunAsync(PipeReader reader, CancellationToken token)
    {
        ctx.Log.InboundEstablished(ctx.LocalId, senderId, remoteAddress);
        var tag = TransportMetrics.From(senderId);
        var max = ctx.Options.MaxFrameSize;
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(token);
        while (true)
        {
            idle.CancelAfter(ctx.Options.ReadTimeout);
            ReadResult result;
            try
            {
                result = await reader.ReadAsync(idle.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!token.IsCancellationRequested)
            {
                Bad($"no data for {ctx.Options.ReadTimeout.TotalMilliseconds} ms");
                return;
            }

            var buffer = result.Buffer;
            string? bad = null;
            long received = 0;
            while (bad is null)
            {
                var status = MessageFrames.TryRead(ref buffer, max, out var payload, out var length);
                if (status == MessageFrames.ReadStatus.NeedMore) break;
                if (status == MessageFrames.ReadStatus.TooLarge)
                {
                    bad = $"frame of {length} bytes exceeds the limit of {max} bytes";
                    break;
                }
                received += MessageFrames.LengthPrefixSize + length;
                if (length == 0) continue; // link heartbeat
                bad = Deliver(payload);
            }
            if (received > 0) ctx.Metrics.ReceivedBytes.Add(received, tag);
            reader.AdvanceTo(buffer.Start, buffer.End);

            if (bad is not null)
            {
                Bad(bad);
                return;
            }
            if (result.IsCompleted)
            {
                if (buffer.IsEmpty) ctx.Log.InboundClosed(ctx.LocalId, senderId, "connection closed by remote peer");
                else Bad($"connection closed in the middle of a frame ({buffer.Length} bytes pending)");
                return;
            }
        }
    }

    /// <summary>Decodes one frame and offers it to raft; a reason to close the connection, or null.</summary>
    private string? Deliver(ReadOnlySequence<byte> payload)
    {
        Message m;
        try
        {
            m = MessageFrames.Decode(payload);
        }
        catch (WireFormatException ex)
        {
            return $"undecodable message: {ex.Message}";
        }
        if (m.From != sender || m.To != ctx.MemberId)
            return $"message from {TransportLog.Id(m.From)} to {TransportLog.Id(m.To)} on a connection from {senderId} to {ctx.LocalId}";
        if (!ctx.Raft.TryProcess(m))
        {
            ctx.Log.DroppedReceiveBufferFull(CoreAdapter.MessageTypeName(m.Type), ctx.LocalId, senderId);
            ctx.Metrics.ReceivedFailures.Add(1, TransportMetrics.From(senderId));
        }
        return null;
    }

    private void Bad(string reason)
    {
        ctx.Log.ClosedBadInput(ctx.LocalId, senderId, remoteAddress, reason);
        ctx.Metrics.ReceivedFailures.Add(1, TransportMetrics.From(senderId));
    }
}
