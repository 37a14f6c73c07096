using System.IO.Pipelines;
using System.Text;
using Raft.Kv.Hosting;

namespace Raft.Shell.Tests.Grpc;

/// <summary>The rewrite of a URL-valued HTTP/2 :authority (what etcdctl 3.4 sends) into a host and port of the same length.</summary>
public class HpackAuthorityTests
{
    private static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    [Theory]
    [InlineData("http://127.0.0.1:2379", "127.0.0.1:00000002379")]
    [InlineData("http://localhost:2379/", "localhost:000000002379")]
    [InlineData("http://[::1]:2379", "[::1]:00000002379")]
    [InlineData("http://etcd", "etcd:000000")]
    public void AUrlBecomesAHostAndPortOfTheSameLength(string url, string expected)
    {
        var host = HpackAuthority.HostOfUrl(Ascii(url));
        Assert.NotNull(host);
        Assert.Equal(expected, Encoding.ASCII.GetString(host));
        Assert.Equal(url.Length, host.Length);
    }

    [Theory]
    [InlineData("127.0.0.1:2379")]
    [InlineData("localhost")]
    [InlineData("://x")]
    public void AnAuthorityThatIsNoUrlIsLeftAlone(string value) => Assert.Null(HpackAuthority.HostOfUrl(Ascii(value)));

    [Fact]
    public void TheHuffmanCodeDecodesRfc7541sExample()
    {
        Assert.True(HpackAuthority.Huffman.Available);
        // RFC 7541 C.4.1: "www.example.com" Huffman-coded.
        var decoded = HpackAuthority.Huffman.Decode(Convert.FromHexString("f1e3c2e5f23a6ba0ab90f4ff"));
        Assert.Equal("www.example.com", Encoding.ASCII.GetString(decoded!));
        // Padding that is not all ones is an error, not a guess.
        Assert.Null(HpackAuthority.Huffman.Decode(Convert.FromHexString("f1e3c2e5f23a6ba0ab90f4fe")));
    }

    [Fact]
    public void OnlyTheAuthorityLiteralChangesInABlock()
    {
        // :method GET (indexed 2), :authority as a literal with incremental indexing of a raw URL,
        // then a literal header "te: trailers" without indexing and a literal name.
        var url = Ascii("http://127.0.0.1:23790");
        byte[] te = [0x00, 0x02, (byte)'t', (byte)'e', 0x08, .. Ascii("trailers")];
        byte[] block = [0x82, 0x41, (byte)url.Length, .. url, .. te];
        var rewritten = HpackAuthority.Rewrite(block);
        Assert.NotNull(rewritten);
        byte[] expected = [0x82, 0x41, (byte)url.Length, .. HpackAuthority.HostOfUrl(url)!, .. te];
        Assert.Equal(expected, rewritten);

        // RFC 7541 C.4.1's request: its authority is a host already, so nothing changes.
        Assert.Null(HpackAuthority.Rewrite(Convert.FromHexString("828684418cf1e3c2e5f23a6ba0ab90f4ff")));
        // A truncated block is left for Kestrel to refuse.
        Assert.Null(HpackAuthority.Rewrite([0x82, 0x41, 0x16, (byte)'h']));
    }
    private static byte[] Frame(byte type, byte flags, uint stream, ReadOnlySpan<byte> payload) =>
        [(byte)(payload.Length >> 16), (byte)(payload.Length >> 8), (byte)payload.Length, type, flags,
            (byte)(stream >> 24), (byte)(stream >> 16), (byte)(stream >> 8), (byte)stream, .. payload];

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(4096)]
    public async Task ThePumpRewritesBlocksOfOneFrameOrSeveralAndPassesTheRestAsItCame(int chunk)
    {
        // Three requests: a URL authority in one HEADERS frame, the same split over HEADERS and a
        // CONTINUATION, and a host authority (no change); a DATA frame between them. Written in
        // chunks of `chunk` bytes; a DATA frame of 4,006 bytes puts the split block across the
        // socket pipe's first 4 KiB segment, so a block is read in place or copied out of two.
        var url = Ascii("http://127.0.0.1:23790");
        byte[] block = [0x82, 0x41, (byte)url.Length, .. url];
        byte[] rewrittenBlock = [0x82, 0x41, (byte)url.Length, .. HpackAuthority.HostOfUrl(url)!];
        byte[] hostBlock = [0x82, 0x41, 0x0e, .. Ascii("127.0.0.1:2379")];
        byte[] data = [0, 0, 0, 0, 3, 1, 2, 3];
        const byte endHeaders = 0x4, endStream = 0x1;
        byte[] input =
        [
            .. "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8,
            .. Frame(1, endHeaders, 1, block),
            .. Frame(0, endStream, 1, data),
            .. Frame(0, 0, 7, new byte[4006]),
            .. Frame(1, 0, 3, block.AsSpan(0, 5)), .. Frame(9, endHeaders, 3, block.AsSpan(5)),
            .. Frame(1, endHeaders | endStream, 5, hostBlock),
        ];
        byte[] expected =
        [
            .. "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8,
            .. Frame(1, endHeaders, 1, rewrittenBlock),
            .. Frame(0, endStream, 1, data),
            .. Frame(0, 0, 7, new byte[4006]),
            .. Frame(1, endHeaders, 3, rewrittenBlock),
            .. Frame(1, endHeaders | endStream, 5, hostBlock),
        ];
        var socket = new Pipe();
        var wrapped = Http2AuthorityRewriter.Wrap(new Duplex(socket.Reader, new Pipe().Writer), TimeSpan.FromSeconds(30));
        for (var at = 0; at < input.Length; at += chunk)
        {
            await socket.Writer.WriteAsync(input.AsMemory(at, Math.Min(chunk, input.Length - at)));
        }
        await socket.Writer.CompleteAsync();
        var output = new List<byte>();
        while (true)
        {
            var read = await wrapped.Input.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            foreach (var segment in read.Buffer) output.AddRange(segment.ToArray());
            wrapped.Input.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted) break;
        }
        Assert.Equal(expected, output.ToArray());
    }

    private sealed record Duplex(PipeReader Input, PipeWriter Output) : IDuplexPipe;
}
