using System.Buffers;
using Microsoft.AspNetCore.Connections;

namespace Raft.Kv.Hosting;

/// <summary>
/// The first connection middleware of a client port: reads (without consuming) the first bytes of a
/// connection and passes it on to the HTTP/2 pipeline when they are HTTP/2's client preface, else to
/// the HTTP/1.1 pipeline. See <see cref="ClientPortWebHostExtensions"/> for why.
/// </summary>
internal sealed class PrefaceRouter(ConnectionDelegate http1, Http2HandoffEndPoint http2, TimeSpan firstBytesTimeout)
{
    /// <summary>RFC 9113 section 3.4: what a client that speaks HTTP/2 with prior knowledge sends first.</summary>
    internal static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    // A client that connects and says nothing, or sends the preface a byte at a time, gets no pipeline
    // until it has; Kestrel's own request header timeout only starts once one runs, so this wait is
    // bounded by the same timeout (KvServiceOptions.RequestHeaderTimeout).

    /// <summary>How the bytes read so far compare with the preface.</summary>
    internal enum Verdict
    {
        /// <summary>They are the whole preface.</summary>
        Http2,
        /// <summary>They differ from it: HTTP/1.x.</summary>
        Http1,
        /// <summary>They are a strict prefix of it: read more.</summary>
        Undecided,
    }

    /// <summary>Compares the first bytes of a connection with the preface.</summary>
    internal static Verdict Classify(ReadOnlySequence<byte> buffer)
    {
        Span<byte> head = stackalloc byte[24];
        var n = (int)Math.Min(buffer.Length, head.Length);
        buffer.Slice(0, n).CopyTo(head);
        if (!head[..n].SequenceEqual(Preface[..n])) return Verdict.Http1;
        return n == Preface.Length ? Verdict.Http2 : Verdict.Undecided;
    }

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
        timeout.CancelAfter(firstBytesTimeout);
        Verdict verdict;
        try
        {
            while (true)
            {
                var read = await input.ReadAsync(timeout.Token);
                var buffer = read.Buffer;
                verdict = Classify(buffer);
                if (verdict != Verdict.Undecided || read.IsCompleted)
                {
                    // Nothing consumed and nothing examined: the chosen pipeline's first read returns
                    // these same bytes at once.
                    input.AdvanceTo(buffer.Start);
                    break;
                }
                input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (OperationCanceledException)
        {
            // Closed, or silent for too long: returning closes the connection.
            return;
        }
        if (verdict == Verdict.Http2)
        {
            var pipeline = http2.Pipeline ?? throw new InvalidOperationException("broken invariant: the client port's HTTP/2 endpoint was not bound before its HTTP/1.1 endpoint");
            // Kestrel refuses etcdctl's URL-valued :authority; the rewriter makes it a host and port.
            if (HpackAuthority.Huffman.Available) connection.Transport = Http2AuthorityRewriter.Wrap(connection.Transport, firstBytesTimeout);
            await pipeline(connection);
            return;
        }
        // A connection that closed before sending a whole preface ends in HTTP/1.1's parser, which
        // answers it as Kestrel always has.
        await http1(connection);
    }
}
