using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;

namespace Raft.Kv.Hosting;

/// <summary>
/// Sits between an HTTP/2 connection's socket and Kestrel: passes every frame through unchanged
/// except request header blocks whose <c>:authority</c> is a whole URL, which
/// <see cref="HpackAuthority"/> rewrites (see there for why).
/// </summary>
internal sealed class Http2AuthorityRewriter
{
    private const int FrameHeaderLength = 9;
    private const byte Headers = 0x1;
    private const byte Continuation = 0x9;
    private const byte EndStream = 0x1;
    private const byte EndHeaders = 0x4;
    private const byte Padded = 0x8;
    private const byte Priority = 0x20;

    // Kestrel's default SETTINGS_MAX_FRAME_SIZE: rewritten blocks are cut into frames this large. A
    // frame announced larger than Kestrel accepts is not waited for: from there on bytes pass as they
    // come, and Kestrel refuses the frame as it always would.
    private const int MaxFrame = 16 * 1024;

    // A header block is held here until it ends: past this many bytes it goes on as it comes, and
    // Kestrel refuses it by its own header size limit (32 KiB decoded), so a client that sends
    // CONTINUATIONs without end cannot make it grow (the HTTP/2 CONTINUATION flood).
    internal const int MaxHeaderBlock = 64 * 1024;

    private readonly PipeReader _source;
    private readonly PipeWriter _target;
    private readonly TimeSpan _headerTimeout;
    private bool _passThrough;
    // When the header block still being waited for began to arrive; Kestrel sees none of it before
    // its end, so its own request header timeout cannot run: this one does.
    private long? _blockSince;

    private Http2AuthorityRewriter(PipeReader source, PipeWriter target, TimeSpan headerTimeout)
    {
        _source = source;
        _target = target;
        _headerTimeout = headerTimeout;
    }

    /// <summary>The transport Kestrel reads through; the copying runs until either side ends.</summary>
    /// <param name="transport">The connection's socket side.</param>
    /// <param name="headerTimeout">How long a header block may take to arrive whole; past it the connection is closed.</param>
    public static IDuplexPipe Wrap(IDuplexPipe transport, TimeSpan headerTimeout)
    {
        var pipe = new Pipe(new PipeOptions(useSynchronizationContext: false));
        var rewriter = new Http2AuthorityRewriter(transport.Input, pipe.Writer, headerTimeout);
        _ = rewriter.PumpAsync();
        return new Duplex(pipe.Reader, transport.Output);
    }

    private sealed record Duplex(PipeReader Input, PipeWriter Output) : IDuplexPipe;

    private async Task PumpAsync()
    {
        Exception? failure = null;
        try
        {
            // The 24-byte client preface, already checked by the router.
            var prefaceLeft = PrefaceRouter.Preface.Length;
            using var deadline = new CancellationTokenSource();
            while (true)
            {
                if (_blockSince is { } since)
                    deadline.CancelAfter(Math.Max(0, (int)(_headerTimeout - System.Diagnostics.Stopwatch.GetElapsedTime(since)).TotalMilliseconds));
                else
                    deadline.CancelAfter(Timeout.Infinite);
                ReadResult read;
                try
                {
                    read = await _source.ReadAsync(deadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (deadline.IsCancellationRequested)
                {
                    throw new TimeoutException($"an HTTP/2 header block took longer than the request header timeout ({_headerTimeout.TotalSeconds:0.###} s)");
                }
                var buffer = read.Buffer;
                if (prefaceLeft > 0)
                {
                    var n = (int)Math.Min(prefaceLeft, buffer.Length);
                    Copy(buffer.Slice(0, n));
                    prefaceLeft -= n;
                    buffer = buffer.Slice(n);
                }
                var consumed = prefaceLeft > 0 ? buffer.Start : ForwardFrames(buffer);
                if (read.IsCompleted)
                {
                    // A frame cut short by the client's close goes to Kestrel as it is.
                    Copy(buffer.Slice(consumed));
                    consumed = buffer.End;
                }
                _source.AdvanceTo(consumed, buffer.End);
                var flush = await _target.FlushAsync().ConfigureAwait(false);
                if (read.IsCompleted || flush.IsCompleted) break;
            }
        }
        catch (Exception ex)
        {
            failure = ex;
        }
        await _target.CompleteAsync(failure).ConfigureAwait(false);
        await _source.CompleteAsync(failure).ConfigureAwait(false);
    }

    private void Copy(ReadOnlySequence<byte> bytes)
    {
        foreach (var segment in bytes) _target.Write(segment.Span);
    }

    /// <summary>Forwards every whole frame (a header block with all its CONTINUATIONs) in the buffer; returns where the rest starts.</summary>
    private SequencePosition ForwardFrames(ReadOnlySequence<byte> buffer)
    {
        while (true)
        {
            if (_passThrough)
            {
                // Kestrel sees what comes from here on, and times it itself.
                _blockSince = null;
                Copy(buffer);
                return buffer.End;
            }
            if (!TryFrameLength(buffer, 0, out var length, out var type, out var flags)) return buffer.Start;
            if (length > MaxFrame)
            {
                _passThrough = true;
                continue;
            }
            if (type != Headers)
            {
                if (buffer.Length < FrameHeaderLength + length) return buffer.Start;
                Copy(buffer.Slice(0, FrameHeaderLength + length));
                buffer = buffer.Slice(FrameHeaderLength + length);
                continue;
            }
            // A HEADERS frame and its CONTINUATIONs, which RFC 9113 requires to follow it directly.
            _blockSince ??= System.Diagnostics.Stopwatch.GetTimestamp();
            var total = (long)FrameHeaderLength + length;
            var lastFlags = flags;
            while ((lastFlags & EndHeaders) == 0)
            {
                if (!TryFrameLength(buffer, total, out var next, out var nextType, out lastFlags)) return buffer.Start;
                if (nextType != Continuation || next > MaxFrame || total + FrameHeaderLength + next > MaxHeaderBlock)
                {
                    // Not what HTTP/2 allows, or larger than Kestrel takes: Kestrel says so.
                    _passThrough = true;
                    break;
                }
                total += FrameHeaderLength + next;
            }
            if (_passThrough) continue;
            if (buffer.Length < total) return buffer.Start;
            _blockSince = null;
            // Read in place when the block is in one segment (almost always: one request's headers are
            // a few dozen bytes); a copy of every block was most of what this pump allocated.
            var frames = buffer.Slice(0, total);
            var rewritten = frames.IsSingleSegment
                ? RewriteHeaders(frames.FirstSpan, length, flags)
                : RewriteHeaders(frames.ToArray(), length, flags);
            if (rewritten is not null)
                _target.Write(rewritten);
            else
                Copy(frames);
            buffer = buffer.Slice(total);
        }
    }

    private static bool TryFrameLength(ReadOnlySequence<byte> buffer, long at, out int length, out byte type, out byte flags)
    {
        length = 0;
        type = 0;
        flags = 0;
        if (buffer.Length < at + FrameHeaderLength) return false;
        Span<byte> header = stackalloc byte[FrameHeaderLength];
        buffer.Slice(at, FrameHeaderLength).CopyTo(header);
        length = header[0] << 16 | header[1] << 8 | header[2];
        type = header[3];
        flags = header[4];
        return true;
    }

    /// <summary>The frames with the header block rewritten, or null when it needs no change.</summary>
    private static byte[]? RewriteHeaders(ReadOnlySpan<byte> frames, int firstLength, byte flags)
    {
        var streamId = BinaryPrimitives.ReadUInt32BigEndian(frames.Slice(5, 4));
        var payload = frames.Slice(FrameHeaderLength, firstLength);
        var padLength = (flags & Padded) != 0 ? payload[0] + 1 : 0;
        var priorityLength = (flags & Priority) != 0 ? 5 : 0;
        var fragmentStart = (padLength == 0 ? 0 : 1) + priorityLength;
        var fragmentEnd = firstLength - (padLength == 0 ? 0 : padLength - 1);
        if (fragmentEnd < fragmentStart) return null;
        byte[]? rewritten;
        if (frames.Length == FrameHeaderLength + firstLength)
        {
            // One HEADERS frame: its fragment is the whole block.
            rewritten = HpackAuthority.Rewrite(payload[fragmentStart..fragmentEnd]);
        }
        else
        {
            var block = new ArrayBufferWriter<byte>(frames.Length);
            block.Write(payload[fragmentStart..fragmentEnd]);
            for (var at = FrameHeaderLength + firstLength; at < frames.Length;)
            {
                var length = frames[at] << 16 | frames[at + 1] << 8 | frames[at + 2];
                block.Write(frames.Slice(at + FrameHeaderLength, length));
                at += FrameHeaderLength + length;
            }
            rewritten = HpackAuthority.Rewrite(block.WrittenSpan);
        }
        if (rewritten is null) return null;
        var priority = payload.Slice(padLength == 0 ? 0 : 1, priorityLength);

        // One HEADERS frame (no padding; priority kept) and CONTINUATIONs as needed.
        var output = new ArrayBufferWriter<byte>(rewritten.Length + 64);
        var first = Math.Min(rewritten.Length, MaxFrame - priority.Length);
        var firstFlags = (byte)((flags & (EndStream | Priority)) | (first == rewritten.Length ? EndHeaders : 0));
        WriteFrameHeader(output, priority.Length + first, Headers, firstFlags, streamId);
        output.Write(priority);
        output.Write(rewritten.AsSpan(0, first));
        for (var at = first; at < rewritten.Length;)
        {
            var n = Math.Min(MaxFrame, rewritten.Length - at);
            WriteFrameHeader(output, n, Continuation, at + n == rewritten.Length ? EndHeaders : (byte)0, streamId);
            output.Write(rewritten.AsSpan(at, n));
            at += n;
        }
        return output.WrittenSpan.ToArray();
    }

    private static void WriteFrameHeader(ArrayBufferWriter<byte> output, int length, byte type, byte flags, uint streamId)
    {
        Span<byte> header = stackalloc byte[FrameHeaderLength];
        header[0] = (byte)(length >> 16);
        header[1] = (byte)(length >> 8);
        header[2] = (byte)length;
        header[3] = type;
        header[4] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(header[5..], streamId);
        output.Write(header);
    }
}
