using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Sockets;
using Raft.Core;
using Raft.Interop.Wire;

namespace Raft.Shell.Transport;

/// <summary>
/// One accepted connection (etcd's stream and snapshot handlers plus its streamReader's decode
/// loop): checks the hello, answers it, then either reads a message stream and hands every message
/// to raft, or receives one snapshot and acknowledges it. Anything wrong on the wire (garbage, an
/// oversized or undecodable frame, a message that is not from the member that said hello or not
/// for us, silence past the read timeout) closes this connection only, with a logged reason.
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
        var stream = new NetworkStream(socket, ownsSocket: true);
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: true));
        // Disposing the socket is what unblocks a pending read on cancellation.
        await using var unblock = token.Register(socket.Dispose).ConfigureAwait(false);
        var sender = "unknown";
        try
        {
            var hello = await ReadHelloAsync(reader, token).ConfigureAwait(false);
            if (hello is not { } h) return;
            sender = TransportLog.Id(h.From);
            var code = Check(h);
            var reply = new byte[Handshake.ReplySize];
            Handshake.WriteReply(reply, new HelloReply(Handshake.ProtocolVersion, code, ctx.ClusterId, ctx.MemberId));
            await stream.WriteAsync(reply, token).ConfigureAwait(false);
            if (code != HandshakeCode.Accepted) return;

            if (h.Kind == ConnectionKind.Members)
            {
                await WriteMembersAsync(stream, token).ConfigureAwait(false);
                return;
            }
            Interlocked.Exchange(ref from, (long)h.From);
            if (h.Kind == ConnectionKind.Messages)
                await ReadMessagesAsync(reader, h.From, sender, token).ConfigureAwait(false);
            else
                await ReceiveSnapshotAsync(reader, stream, h.From, sender, token).ConfigureAwait(false);
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

    /// <summary>The hello, or null (logged) when the bytes are not one or never come.</summary>
    private async Task<Hello?> ReadHelloAsync(PipeReader reader, CancellationToken token)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(ctx.Options.HandshakeTimeout);
        try
        {
            // Look at the magic first, so garbage is refused as soon as it arrives.
            var result = await reader.ReadAtLeastAsync(4, timeout.Token).ConfigureAwait(false);
            if (result.Buffer.Length < 4 || !StartsWithMagic(result.Buffer))
            {
                if (result.Buffer.Length > 0) Refuse(result.Buffer, "bad magic");
                return null;
            }
            // Consume nothing and mark nothing examined, so the next read returns what is already here.
            reader.AdvanceTo(result.Buffer.Start);
            result = await reader.ReadAtLeastAsync(Handshake.HelloSize, timeout.Token).ConfigureAwait(false);
            if (result.Buffer.Length < Handshake.HelloSize)
            {
                ctx.Log.NotAPeer(RemoteAddress, "connection closed during the handshake");
                return null;
            }
            Span<byte> bytes = stackalloc byte[Handshake.HelloSize];
            result.Buffer.Slice(0, Handshake.HelloSize).CopyTo(bytes);
            var hello = Handshake.ReadHello(bytes, out var error);
            if (hello is null)
            {
                ctx.Log.NotAPeer(RemoteAddress, error!);
                return null;
            }
            reader.AdvanceTo(result.Buffer.GetPosition(Handshake.HelloSize));
            return hello;
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            ctx.Log.NotAPeer(RemoteAddress, $"no handshake within {ctx.Options.HandshakeTimeout.TotalMilliseconds} ms");
            return null;
        }
    }

    private static bool StartsWithMagic(ReadOnlySequence<byte> buffer)
    {
        Span<byte> head = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(head);
        return Handshake.HasMagic(head);
    }

    private void Refuse(ReadOnlySequence<byte> buffer, string reason)
    {
        var n = (int)Math.Min(buffer.Length, 8);
        var head = buffer.Slice(0, n).ToArray();
        ctx.Log.NotAPeer(RemoteAddress, $"{reason} (first bytes 0x{Convert.ToHexString(head)})");
    }

    /// <summary>etcd's checks, in etcd's order: version and cluster, removed, known, addressed to us.</summary>
    private HandshakeCode Check(in Hello h)
    {
        var sender = TransportLog.Id(h.From);
        if (h.Version != Handshake.ProtocolVersion)
        {
            ctx.Log.RejectedOther(ctx.LocalId, sender, RemoteAddress,
                $"incompatible version: remote speaks protocol {h.Version}, local {Handshake.ProtocolVersion}");
            return HandshakeCode.IncompatibleVersion;
        }
        // Asking for the membership needs no identity: the asker does not have one yet.
        if (h.Kind == ConnectionKind.Members)
            return ctx.Raft is IMembershipSource ? HandshakeCode.Accepted : HandshakeCode.UnsupportedKind;
        if (h.ClusterId != ctx.ClusterId)
        {
            ctx.Log.ClusterIdMismatch(ctx.LocalId, TransportLog.Id(ctx.ClusterId), sender, TransportLog.Id(h.ClusterId), RemoteAddress);
            return HandshakeCode.ClusterIdMismatch;
        }
        if (h.Kind is not (ConnectionKind.Messages or ConnectionKind.Snapshot))
        {
            ctx.Log.RejectedOther(ctx.LocalId, sender, RemoteAddress, $"unsupported stream type {(byte)h.Kind}");
            return HandshakeCode.UnsupportedKind;
        }
        if (ctx.Raft.IsIdRemoved(h.From))
        {
            ctx.Log.RejectedRemoved(ctx.LocalId, sender, RemoteAddress);
            return HandshakeCode.MemberRemoved;
        }
        if (!isKnownPeer(h.From))
        {
            ctx.Log.UnknownSender(ctx.LocalId, sender, TransportLog.Id(ctx.ClusterId), RemoteAddress);
            return HandshakeCode.UnknownSender;
        }
        if (h.To != ctx.MemberId)
        {
            ctx.Log.ReceiverMismatch(ctx.LocalId, TransportLog.Id(h.To), sender, RemoteAddress);
            return HandshakeCode.ReceiverMismatch;
        }
        return HandshakeCode.Accepted;
    }

    /// <summary>The membership answer: a 4-byte big-endian length, then the source's bytes.</summary>
    private async Task WriteMembersAsync(NetworkStream stream, CancellationToken token)
    {
        var body = ((IMembershipSource)ctx.Raft).MembershipJson();
        var framed = new byte[4 + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(framed, body.Length);
        body.CopyTo(framed, 4);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(ctx.Options.WriteTimeout);
        await stream.WriteAsync(framed, timeout.Token).ConfigureAwait(false);
    }

    private async Task ReadMessagesAsync(PipeReader reader, ulong sender, string senderId, CancellationToken token)
    {
        ctx.Log.InboundEstablished(ctx.LocalId, senderId, RemoteAddress);
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
                Bad(senderId, $"no data for {ctx.Options.ReadTimeout.TotalMilliseconds} ms");
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
                bad = Deliver(payload, sender, senderId);
            }
            if (received > 0) ctx.Metrics.ReceivedBytes.Add(received, tag);
            reader.AdvanceTo(buffer.Start, buffer.End);

            if (bad is not null)
            {
                Bad(senderId, bad);
                return;
            }
            if (result.IsCompleted)
            {
                if (buffer.IsEmpty) ctx.Log.InboundClosed(ctx.LocalId, senderId, "connection closed by remote peer");
                else Bad(senderId, $"connection closed in the middle of a frame ({buffer.Length} bytes pending)");
                return;
            }
        }
    }

    /// <summary>Decodes one frame and offers it to raft; a reason to close the connection, or null.</summary>
    private string? Deliver(ReadOnlySequence<byte> payload, ulong sender, string senderId)
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
            ctx.Log.DroppedReceiveBufferFull(Pb.messageTypeName(m.Type), ctx.LocalId, senderId);
            ctx.Metrics.ReceivedFailures.Add(1, TransportMetrics.From(senderId));
        }
        return null;
    }

    private void Bad(string senderId, string reason)
    {
        ctx.Log.ClosedBadInput(ctx.LocalId, senderId, RemoteAddress, reason);
        ctx.Metrics.ReceivedFailures.Add(1, TransportMetrics.From(senderId));
    }

    /// <summary>
    /// Reads the MsgSnap frame, then the payload into one array, and only then hands the message to
    /// raft (with the payload as its Snapshot.Data); the one-byte answer tells the sender the outcome.
    /// </summary>
    private async Task ReceiveSnapshotAsync(PipeReader reader, NetworkStream stream, ulong sender, string senderId, CancellationToken token)
    {
        var started = Stopwatch.GetTimestamp();
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(token);
        var (m, error) = await ReadSnapshotAsync(reader, sender, senderId, idle, token).ConfigureAwait(false);
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
            ctx.Log.SnapshotReceiveFailed(ctx.LocalId, senderId, RemoteAddress, error ?? "unknown");
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
        PipeReader reader, ulong sender, string senderId, CancellationTokenSource idle, CancellationToken token)
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
            if (!m.Type.IsMsgSnap) return (null, $"unexpected message type {Pb.messageTypeName(m.Type)} on a snapshot connection");
            if (m.From != sender || m.To != ctx.MemberId)
                return (null, $"message from {TransportLog.Id(m.From)} to {TransportLog.Id(m.To)} on a connection from {senderId} to {ctx.LocalId}");

            idle.CancelAfter(ctx.Options.ReadTimeout);
            var lengthResult = await reader.ReadAtLeastAsync(MessageFrames.PayloadLengthSize, idle.Token).ConfigureAwait(false);
            if (lengthResult.Buffer.Length < MessageFrames.PayloadLengthSize) return (null, "connection closed before the snapshot payload");
            Span<byte> prefix = stackalloc byte[MessageFrames.PayloadLengthSize];
            lengthResult.Buffer.Slice(0, MessageFrames.PayloadLengthSize).CopyTo(prefix);
            reader.AdvanceTo(lengthResult.Buffer.GetPosition(MessageFrames.PayloadLengthSize));
            var size = BinaryPrimitives.ReadUInt64BigEndian(prefix);
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

    private static Message WithData(Message m, byte[] data) =>
        new(m.Type, m.To, m.From, m.Term, m.LogTerm, m.Index, m.Entries, m.Commit,
            new Snapshot(data, m.Snapshot.Metadata), m.Reject, m.RejectHint, m.Context);
}
