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
}
