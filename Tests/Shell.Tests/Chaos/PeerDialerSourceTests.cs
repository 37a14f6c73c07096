using System.Net;
using System.Net.Sockets;
using Raft.Shell.Transport;
using static Raft.Shell.Tests.Transport.TestNode;

namespace Raft.Shell.Tests.Chaos;

/// <summary>
/// A member listening for peers on a specific address dials its peers from that address, so that
/// a peer (and a firewall rule) sees its traffic come from it; otherwise the kernel picks.
/// </summary>
public class PeerDialerSourceTests
{
    [Fact]
    public async Task AMemberListeningOnItsOwnLoopbackAddressDialsFromIt()
    {
        // A bare listener stands for the peer: it only needs to see where the connection comes from.
        using var peer = new TcpListener(IPAddress.Parse("127.0.1.2"), 0);
        peer.Start();
        await using var node = await StartAsync(1, configure: o => o.ListenPeerUrls = ["http://127.0.1.1:0"]);
        node.Transport.AddPeer(2, [$"http://{peer.LocalEndpoint}"]);
        node.Transport.Send(Msg(1, 2, 1));
        using var accepted = await peer.AcceptSocketAsync().WaitAsync(TimeSpan.FromSeconds(10));
        var from = ((IPEndPoint)accepted.RemoteEndPoint!).Address;
        Assert.Equal(IPAddress.Parse("127.0.1.1"), from.IsIPv4MappedToIPv6 ? from.MapToIPv4() : from);
    }

    [Theory]
    [InlineData("http://127.0.1.1:2380", "127.0.1.2", "127.0.1.1")]
    [InlineData("http://localhost:2380", "127.0.0.1", "127.0.0.1")]
    [InlineData("http://0.0.0.0:2380", "127.0.1.2", null)] // any address: the kernel picks
    [InlineData("http://[::]:2380", "127.0.1.2", null)]
    [InlineData("http://127.0.1.1:2380", "10.1.2.3", null)] // a loopback source cannot reach another host
    [InlineData("http://10.1.2.4:2380", "127.0.0.1", null)]
    [InlineData("http://[::1]:2380", "127.0.0.1", null)] // other family
    public void TheSourceIsTheListenAddressOnlyWhenItCanReachThePeer(string listen, string target, string? expected)
    {
        var source = PeerDialer.SourceAddress([listen], new IPEndPoint(IPAddress.Parse(target), 2380));
        Assert.Equal(expected is null ? null : IPAddress.Parse(expected), source);
    }

    [Fact]
    public void NoSourceIsChosenForAHostName() =>
        Assert.Null(PeerDialer.SourceAddress(["http://127.0.1.1:2380"], new DnsEndPoint("peer.example", 2380)));
}
