using System.Net;
using System.Net.Sockets;

namespace Raft.Shell.Tests;

/// <summary>
/// Free ports for the tests' servers. A port is found by binding port 0 and releasing it, so the kernel
/// may hand the same port out again before the first caller binds it (a member once got one port for
/// both its peer and its client URL, and could not start). Ports handed out in this process are
/// remembered and never handed out twice.
/// </summary>
public static class FreePorts
{
    private static readonly HashSet<(string Address, int Port)> Handed = [];

    /// <summary>A port free on <paramref name="address"/> now, and not handed out before in this process.</summary>
    public static int On(string address)
    {
        var ip = IPAddress.Parse(address);
        for (var attempt = 0; attempt < 10_000; attempt++)
        {
            int port;
            using (var s = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp))
            {
                s.Bind(new IPEndPoint(ip, 0));
                port = ((IPEndPoint)s.LocalEndPoint!).Port;
            }
            lock (Handed)
            {
                if (Handed.Add((address, port)))
                    return port;
            }
        }
        throw new InvalidOperationException($"no port on {address} that was not handed out before");
    }

    /// <summary>A port free on 127.0.0.1 (see <see cref="On"/>).</summary>
    public static int OnLoopback() => On("127.0.0.1");
}
