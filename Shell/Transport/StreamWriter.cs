using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Raft.Core;
using Raft.Interop.Wire;

namespace Raft.Shell.Transport;

/// <summary>
/// The outbound half of one peer (etcd's streamWriter plus the dialling its streamReader does): a
/// bounded queue that <see cref="TryEnqueue"/> fills without ever waiting, drained by one task that
/// owns the peer's connection. The task dials, handshakes, and writes frames, flushing when the
/// queue runs dry (so a burst goes out in few syscalls). When the connection fails, whatever is still
/// queued is dropped and raft is told the peer is unreachable; raft retransmits. While the peer is
/// down between redials (exponential backoff, capped), messages are refused at once so the caller
/// can report them, as etcd's pipeline does when its POST fails.
/// </summary>
internal sealed class StreamWriter : IAsyncDisposable
{
    // A burst larger than this is written out in pieces rather than buffered whole.
    private const int FlushThreshold = 256 * 1024;

    private const int StateDown = 0, StateConnecting = 1, StateUp = 2;

    // The queue entry that asks for a link heartbeat; compared by reference, never sent as a message.
    private static readonly Message LinkHeartbeat =
        new(MessageType.MsgHeartbeat, 0, 0, 0, 0, 0, [], 0, CoreAdapter.EmptySnapshot, false, 0, []);

    private readonly TransportContext ctx;
    private readonly ulong peerId;
    private readonly string peer;
    private readonly PeerStatus status;
    private readonly UrlPicker picker;
    private readonly PeerDialer dialer;
    private readonly Channel<Message> queue;
    private readonly CancellationTokenSource stop = new();
    private readonly Task run;
    private volatile int state = StateConnecting;

    // The pump's wait for the queue to fill (see WaitForMessagesAsync); null while it is not waiting.
    private TaskCompletionSource? idle;

    public StreamWriter(TransportContext ctx, ulong peerId, PeerStatus status, UrlPicker picker, PeerDialer dialer)
    {
        this.ctx = ctx;
        this.peerId = peerId;
        peer = TransportLog.Id(peerId);
        this.status = status;
        this.picker = picker;
        this.dialer = dialer;
        queue = Channel.CreateBounded<Message>(new BoundedChannelOptions(ctx.Options.SendQueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full; nothing ever waits
        });
        run = Task.Run(() => RunAsync(stop.Token));
    }

    public enum Enqueued
    {
        Queued,
        Full,
        PeerDown,
    }

    /// <summary>Queues a message for the peer; never blocks.</summary>
    public Enqueued TryEnqueue(Message m)
    {
        if (state == StateDown) return Enqueued.PeerDown;
        if (!queue.Writer.TryWrite(m)) return Enqueued.Full;
        WakePump(InlineSend.Allowed);
        return Enqueued.Queued;
    }

    /// <summary>
    /// Ends the pump's wait, if it waits: on this thread when <paramref name="inline"/> (see
    /// <see cref="InlineSend"/>), on a pool thread otherwise. While the pump is busy (a burst, or a
    /// flush the socket could not take at once) messages just queue, and it drains them.
    /// </summary>
    private void WakePump(bool inline)
    {
        var waiting = Interlocked.Exchange(ref idle, null);
        if (waiting is null) return;
        if (inline) waiting.TrySetResult();
        else ThreadPool.UnsafeQueueUserWorkItem(static w => w.TrySetResult(), waiting, preferLocal: false);
    }

    /// <summary>Waits until a message is queued (or the connection fails: then throws).</summary>
    private async Task WaitForMessagesAsync(CancellationToken token)
    {
        // Completed without RunContinuationsAsynchronously: whoever ends the wait chooses the thread.
        var wait = new TaskCompletionSource();
        Volatile.Write(ref idle, wait);
        // A message queued before the wait was published woke nobody: look once more.
        if (queue.Reader.TryPeek(out _) && Interlocked.CompareExchange(ref idle, null, wait) == wait) return;
        using (token.UnsafeRegister(static w => ((TaskCompletionSource)w!).TrySetCanceled(), wait))
            await wait.Task.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync().ConfigureAwait(false);
        await run.ConfigureAwait(false);
        stop.Dispose();
    }

    private async Task RunAsync(CancellationToken ct)
    {
        var delay = ctx.Options.ReconnectInitialDelay;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                state = StateConnecting;
                var endpoint = picker.Pick();
                var dial = await dialer.DialAsync(peerId, endpoint, ConnectionKind.Messages, ct).ConfigureAwait(false);
                if (dial.Stream is null)
                {
                    picker.Unreachable(endpoint);
                    state = StateDown;
                    status.Deactivate("stream Message", "dial", dial.Error!);
                    DropQueued(reportAnyway: false);
                    await Task.Delay(Jitter(delay), ct).ConfigureAwait(false);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, ctx.Options.ReconnectMaxDelay.Ticks));
                    continue;
                }

                delay = ctx.Options.ReconnectInitialDelay;
                var error = await PumpAsync(dial.Stream, endpoint, ct).ConfigureAwait(false);
                if (error is null) break;
                state = StateDown;
                ctx.Log.StreamLost(ctx.LocalId, peer, error);
                status.Deactivate("stream Message", "write", error);
                // Some of the last batch may not have arrived: let raft probe the peer again.
                DropQueued(reportAnyway: true);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            state = StateDown;
        }
    }

    /// <summary>Writes queued messages until the connection fails (returns why) or the writer stops (null).</summary>
    private async Task<string?> PumpAsync(Stream stream, EndPoint endpoint, CancellationToken ct)
    {
        var conn = new Connection(stream, ct);
        var writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024, leaveOpen: true));
        var watchers = Task.WhenAll(WatchForCloseAsync(conn), TickAsync(conn));
        var unflushed = 0L;
        try
        {
            state = StateUp;
            status.Activate();
            ctx.Log.StreamEstablished(ctx.LocalId, peer, endpoint.ToString() ?? "");
            var reader = queue.Reader;
            while (true)
            {
                while (reader.TryRead(out var m))
                {
                    if (ReferenceEquals(m, LinkHeartbeat))
                    {
                        MessageFrames.WriteLinkHeartbeat(writer);
                        unflushed += MessageFrames.LengthPrefixSize;
                    }
                    else
                    {
                        var p = RaftpbConvert.ToProto(m);
                        var size = p.CalculateSize();
                        if (size > ctx.Options.MaxFrameSize)
                        {
                            ctx.Log.DroppedTooLarge(CoreAdapter.MessageTypeName(m.Type), peer, size, ctx.Options.MaxFrameSize);
                            ctx.Metrics.SentFailures.Add(1, TransportMetrics.To(peer));
                            ctx.Raft.ReportUnreachable(peerId);
                            continue;
                        }
                        MessageFrames.Write(writer, p, size);
                        unflushed += MessageFrames.LengthPrefixSize + size;
                    }
                    if (unflushed >= FlushThreshold) unflushed = await FlushAsync(writer, conn, unflushed).ConfigureAwait(false);
                }
                if (unflushed > 0) unflushed = await FlushAsync(writer, conn, unflushed).ConfigureAwait(false);
                await WaitForMessagesAsync(conn.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            return ct.IsCancellationRequested ? null : conn.FailureReason ?? ex.Message;
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            // Never let the peer's only writer die: drop this connection and dial again.
            return $"unexpected error: {ex}";
        }
        finally
        {
            conn.Fail("closed");
            try
            {
                // Completing flushes what is left; the socket is gone, so that part is lost anyway.
                await writer.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
            {
            }
            await stream.DisposeAsync().ConfigureAwait(false);
            await watchers.ConfigureAwait(false);
            conn.Dispose();
        }
    }

    private async ValueTask<long> FlushAsync(PipeWriter writer, Connection conn, long unflushed)
    {
        Volatile.Write(ref conn.FlushStarted, Environment.TickCount64);
        var result = await writer.FlushAsync(conn.Token).ConfigureAwait(false);
        Volatile.Write(ref conn.FlushStarted, 0);
        if (result.IsCanceled) throw new OperationCanceledException("flush cancelled");
        ctx.Metrics.SentBytes.Add(unflushed, TransportMetrics.To(peer));
        return 0;
    }

    /// <summary>
    /// The receiver never writes after the handshake, so a completed read means it closed (or reset)
    /// the connection: fail at once instead of at the next write, which could silently succeed. The
    /// read goes through the stream, not the socket, so TLS's own records after the handshake (session
    /// tickets) are consumed by TLS and never taken for data.
    /// </summary>
    private static async Task WatchForCloseAsync(Connection conn)
    {
        var one = new byte[1];
        try
        {
            var n = await conn.Stream.ReadAsync(one, conn.Token).ConfigureAwait(false);
            conn.Fail(n == 0 ? "connection closed by remote peer" : "remote peer sent unexpected data");
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            conn.Fail(ex.Message);
        }
    }

    /// <summary>Queues a link heartbeat every interval, and fails a write stuck longer than the write timeout.</summary>
    private async Task TickAsync(Connection conn)
    {
        using var timer = new PeriodicTimer(ctx.Options.EffectiveLinkHeartbeatInterval);
        var writeTimeoutMs = (long)ctx.Options.WriteTimeout.TotalMilliseconds;
        try
        {
            while (await timer.WaitForNextTickAsync(conn.Token).ConfigureAwait(false))
            {
                var started = Volatile.Read(ref conn.FlushStarted);
                if (started != 0 && Environment.TickCount64 - started > writeTimeoutMs)
                {
                    conn.Fail($"write timed out after {writeTimeoutMs} ms");
                    return;
                }
                if (queue.Writer.TryWrite(LinkHeartbeat)) WakePump(inline: false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Empties the queue (the writer task is its only reader) and tells raft if anything was lost.</summary>
    private void DropQueued(bool reportAnyway)
    {
        var dropped = 0;
        while (queue.Reader.TryRead(out var m))
        {
            if (!ReferenceEquals(m, LinkHeartbeat)) dropped++;
        }
        if (dropped > 0) ctx.Metrics.SentFailures.Add(dropped, TransportMetrics.To(peer));
        if (dropped > 0 || reportAnyway) ctx.Raft.ReportUnreachable(peerId);
    }

    private static TimeSpan Jitter(TimeSpan delay) => delay * (0.8 + 0.4 * Random.Shared.NextDouble());

    /// <summary>One live connection: its stream, a token cancelled when it fails, and the first reason.</summary>
    private sealed class Connection(Stream stream, CancellationToken stop) : IDisposable
    {
        private readonly CancellationTokenSource cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
        private string? failure;

        // Environment.TickCount64 when the current flush began; 0 when none is under way.
        public long FlushStarted;

        public Stream Stream { get; } = stream;
        public CancellationToken Token => cts.Token;
        public string? FailureReason => Volatile.Read(ref failure);

        public void Fail(string reason)
        {
            Interlocked.CompareExchange(ref failure, reason, null);
            try
            {
                cts.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
            Stream.Dispose();
        }

        public void Dispose() => cts.Dispose();
    }
}
