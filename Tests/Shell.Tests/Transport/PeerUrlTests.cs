using System.Net;
using Raft.Shell.Transport;

namespace Raft.Shell.Tests.Transport;

public class PeerUrlTests
{
    [Theory]
    [InlineData("http://127.0.0.1:2380", "127.0.0.1:2380")]
    [InlineData("tcp://10.0.0.5:12380", "10.0.0.5:12380")]
    [InlineData("https://127.0.8.1:2380", "127.0.8.1:2380")]
    [InlineData("http://[::1]:2380", "[::1]:2380")]
    [InlineData("http://127.0.0.1:2380/", "127.0.0.1:2380")]
    public void IpUrlsGiveIpEndpoints(string url, string expected) =>
        Assert.Equal(IPEndPoint.Parse(expected), PeerUrl.Parse(url));

    [Fact]
    public void HostNamesAreResolvedWhenDialled()
    {
        var ep = Assert.IsType<DnsEndPoint>(PeerUrl.Parse("http://infra1.example:2380"));
        Assert.Equal(("infra1.example", 2380), (ep.Host, ep.Port));
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 2380), PeerUrl.ParseListen("http://localhost:2380"));
    }

    [Theory]
    [InlineData("127.0.0.1:2380")]
    [InlineData("https://127.0.0.1")]
    [InlineData("http://127.0.0.1")]
    [InlineData("http://127.0.0.1:2380/raft")]
    [InlineData("unix:///tmp/sock")]
    public void OtherFormsAreRefused(string url) => Assert.Throws<FormatException>(() => PeerUrl.Parse(url));

    [Fact]
    public void ListenersNeedAnAddress() =>
        Assert.Throws<FormatException>(() => PeerUrl.ParseListen("http://infra1.example:2380"));
}
