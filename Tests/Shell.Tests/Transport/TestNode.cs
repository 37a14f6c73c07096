using System.Net;
using System.Net.Sockets;
using Raft.Core;
using Raft.Shell.Transport;

namespace Raft.Shell.Tests.Transport;

// Inside the namespace: Google.Protobuf 3.36 (dotnet-etcd's) has a global namespace Pb that would hide Core's Pb.
using Pb = Raft.Core.Pb;

/// <summary>A real transport listening on 127.0.0.1, with a recording raft and a capturing log.</summary>
internal sealed class TestNode : IAsyncDisposable
{
    private TestNode(PeerTransport transport, RecordingRaft raft, CapturingLogger<PeerTransport> log, ulong id)
    {
        Transport = transport;
        Raft = raft;
        Log = log;
        Id = id;
    }

    public ulong Id { get; }
    public PeerTransport Transport { get; }
    public RecordingRaft Raft { get; }
    public CapturingLogger<PeerTransport> Log { get; }
    public IPEndPoint Endpoint => Transport.ListenEndpoints[0];
    public string Url => $"http://{Endpoint}";

    /// <summary>Options with short delays so a test class runs in seconds.</summary>
    public static PeerTransportOptions FastOptions(ulong id, ulong cluster, int port) => new()
    {
        MemberId = id,
        ClusterId = cluster,
        ListenPeerUrls = [$"http://127.0.0.1:{port}"],
        ReconnectInitialDelay = TimeSpan.FromMilliseconds(20),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
        HandshakeTimeout = TimeSpan.FromSeconds(2),
    };

    public static async Task<TestNode> StartAsync(
        ulong id, ulong cluster = 1, int port = 0, Action<PeerTransportOptions>? configure = null, int receiveCapacity = 100_000,
        MeterRecorder? meters = null)
    {
        var options = FastOptions(id, cluster, port);
        configure?.Invoke(options);
        var raft = new RecordingRaft(receiveCapacity);
        var log = new CapturingLogger<PeerTransport>();
        var transport = new PeerTransport(options, raft, log, meters);
        await transport.StartAsync();
        return new TestNode(transport, raft, log, id);
    }

    public ValueTask DisposeAsync() => Transport.DisposeAsync();

    /// <summary>Makes two nodes peers of each other.</summary>
    public static void Connect(TestNode a, TestNode b)
    {
        a.Transport.AddPeer(b.Id, [b.Url]);
        b.Transport.AddPeer(a.Id, [a.Url]);
    }

    public static Message Msg(ulong from, ulong to, ulong index, MessageType? type = null, int entries = 0, int entrySize = 0) =>
        new(type ?? MessageType.MsgApp, to, from, 1, 1, index,
            Enumerable.Range(0, entries).Select(i => new Entry(1, index + (ulong)i + 1, EntryType.EntryNormal, new byte[entrySize])).ToArray(),
            0, Pb.emptySnapshot, false, 0, []);

    /// <summary>A port nothing listens on (bound, then released).</summary>
    public static int FreePort() => FreePorts.OnLoopback();

    /// <summary>Polls until <paramref name="condition"/> holds, failing after the timeout.</summary>
    public static async Task Eventually(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(5));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out waiting for: {what}");
            await Task.Delay(10);
        }
    }

    /// <summary>Shows <paramref name="to"/> still takes messages from <paramref name="from"/>.</summary>
    public static async Task AssertServes(TestNode from, TestNode to, ulong index)
    {
        from.Transport.Send(Msg(from.Id, to.Id, index, MessageType.MsgHeartbeat));
        while (true)
        {
            var m = await to.Raft.ReceiveAsync();
            if (m.From == from.Id && m.Index == index) return;
        }
    }
}
