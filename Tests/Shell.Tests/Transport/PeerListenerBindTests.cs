using System.Net;
using System.Net.Sockets;
using static Raft.Shell.Tests.Transport.TestNode;

namespace Raft.Shell.Tests.Transport;

/// <summary>
/// The peer port is this member's alone: a second process (or transport) cannot bind it while the
/// first listens, yet a restarted member can bind it again at once.
/// </summary>
public class PeerListenerBindTests
{
    [Fact]
    public async Task ASecondTransportOnTheSamePeerPortIsRefused()
    {
        await using var first = await StartAsync(1);
        // With SO_REUSEPORT both would bind, and the kernel would split incoming peers between them.
        var second = new Raft.Shell.Transport.PeerTransport(FastOptions(2, 1, first.Endpoint.Port), new RecordingRaft(10), new CapturingLogger<Raft.Shell.Transport.PeerTransport>(), null);
        await using (second)
        {
            var ex = await Assert.ThrowsAsync<SocketException>(() => second.StartAsync());
            Assert.Equal(SocketError.AddressAlreadyInUse, ex.SocketErrorCode);
        }
    }

    [Fact]
    public async Task APeerPortBindsAgainWhileItsClosedConnectionsLingerInTimeWait()
    {
        int port;
        await using (var a = await StartAsync(1))
        {
            port = a.Endpoint.Port;
            // A connection that the listening side closes first leaves TIME_WAIT on the peer port.
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await client.ConnectAsync(a.Endpoint);
            await client.SendAsync(new byte[64]); // garbage: the transport closes the connection
            var buffer = new byte[16];
            while (await client.ReceiveAsync(buffer) > 0) { }
        }
        // The premise: the kernel still holds a connection of that port in TIME_WAIT.
        Assert.True(TimeWaitCount(port) > 0, $"no TIME_WAIT connection on port {port}");
        await using var again = await StartAsync(1, port: port);
        Assert.Equal(port, again.Endpoint.Port);
    }

    /// <summary>IPv4 connections in TIME_WAIT (state 06 in /proc/net/tcp) with this local port.</summary>
    private static int TimeWaitCount(int port) =>
        File.ReadLines("/proc/net/tcp").Skip(1)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Count(f => f[3] == "06" && Convert.ToInt32(f[1].Split(':')[1], 16) == port);
}
