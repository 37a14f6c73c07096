using System.Buffers;
using System.IO.Pipelines;

namespace Raft.Shell.Transport;

/// <summary>
/// The first bytes of an accepted connection: reads the hello (refusing garbage as soon as its
/// magic is wrong) and judges it with etcd's checks, in etcd's order.
/// </summary>
internal sealed class InboundHandshake(TransportContext ctx, string remoteAddress, Func<ulong, bool> isKnownPeer)
{
    /// <summary>The hello, or null (logged) when the bytes are not one or never come.</summary>
    public async Task<Hello?> ReadHelloAsync(PipeReader reader, CancellationToken token)
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
                ctx.Log.NotAPeer(remoteAddress, "connection closed during the handshake");
                return null;
            }
            Span<byte> bytes = stackalloc byte[Handshake.HelloSize];
            result.Buffer.Slice(0, Handshake.HelloSize).CopyTo(bytes);
            var hello = Handshake.ReadHello(bytes, out var error);
            if (hello is null)
            {
                ctx.Log.NotAPeer(remoteAddress, error!);
                return null;
            }
            reader.AdvanceTo(result.Buffer.GetPosition(Handshake.HelloSize));
            return hello;
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            ctx.Log.NotAPeer(remoteAddress, $"no handshake within {ctx.Options.HandshakeTimeout.TotalMilliseconds} ms");
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
        ctx.Log.NotAPeer(remoteAddress, $"{reason} (first bytes 0x{Convert.ToHexString(head)})");
    }

    /// <summary>etcd's checks, in etcd's order: version and cluster, removed, known, addressed to us.</summary>
    public HandshakeCode Check(in Hello h)
    {
        var sender = TransportLog.Id(h.From);
        if (h.Version != Handshake.ProtocolVersion)
        {
            ctx.Log.RejectedOther(ctx.LocalId, sender, remoteAddress,
                $"incompatible version: remote speaks protocol {h.Version}, local {Handshake.ProtocolVersion}");
            return HandshakeCode.IncompatibleVersion;
        }
        // Asking for the membership needs no identity: the asker does not have one yet.
        if (h.Kind == ConnectionKind.Members)
            return ctx.Raft is IMembershipSource ? HandshakeCode.Accepted : HandshakeCode.UnsupportedKind;
        if (h.ClusterId != ctx.ClusterId)
        {
            ctx.Log.ClusterIdMismatch(ctx.LocalId, TransportLog.Id(ctx.ClusterId), sender, TransportLog.Id(h.ClusterId), remoteAddress);
            return HandshakeCode.ClusterIdMismatch;
        }
        if (h.Kind is not (ConnectionKind.Messages or ConnectionKind.Snapshot))
        {
            ctx.Log.RejectedOther(ctx.LocalId, sender, remoteAddress, $"unsupported stream type {(byte)h.Kind}");
            return HandshakeCode.UnsupportedKind;
        }
        if (ctx.Raft.IsIdRemoved(h.From))
        {
            ctx.Log.RejectedRemoved(ctx.LocalId, sender, remoteAddress);
            return HandshakeCode.MemberRemoved;
        }
        if (!isKnownPeer(h.From))
        {
            ctx.Log.UnknownSender(ctx.LocalId, sender, TransportLog.Id(ctx.ClusterId), remoteAddress);
            return HandshakeCode.UnknownSender;
        }
        if (h.To != ctx.MemberId)
        {
            ctx.Log.ReceiverMismatch(ctx.LocalId, TransportLog.Id(h.To), sender, remoteAddress);
            return HandshakeCode.ReceiverMismatch;
        }
        return HandshakeCode.Accepted;
    }
}
