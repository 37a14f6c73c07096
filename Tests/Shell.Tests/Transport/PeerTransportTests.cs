using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Raft.Core;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;
using static Raft.Shell.Tests.Transport.TestNode;

namespace Raft.Shell.Tests.Transport;

/// <summary>Two or more real transports on 127.0.0.1: messages, failures, snapshots.</summary>
public class PeerTransportTests
{
    [Fact]
    public async Task MessagesFlowBothWaysInOrderPerPeer()
    {
        await using var a = await StartAsync(1);
        await using var b = await StartAsync(2);
        Connect(a, b);

        const int n = 2000;
        for (var i = 1UL; i <= n; i++)
        {
            a.Transport.Send(Msg(1, 2, i, entries: 2, entrySize: 256));
            b.Transport.Send(Msg(2, 1, i, MessageType.MsgAppResp));
        }

        var atB = new List<Message>();
        var atA = new List<Message>();
        for (var i = 0; i < n; i++)
        {
            atB.Add(await b.Raft.ReceiveAsync());
            atA.Add(await a.Raft.ReceiveAsync());
        }
        Assert.Equal(Enumerable.Range(1, n).Select(i => (ulong)i), atB.Select(m => m.Index));
        Assert.Equal(Enumerable.Range(1, n).Select(i => (ulong)i), atA.Select(m => m.Index));
        Assert.Equal(Msg(1, 2, 7, entries: 2, entrySize: 256), atB[6]);
        Assert.All(atA, m => Assert.True(m.Type.IsMsgAppResp && m.From == 2 && m.To == 1));
        Assert.Empty(a.Raft.Unreachable);
        Assert.Empty(b.Raft.Unreachable);
    }

    [Fact]
    public async Task StoppedPeerIsReportedUnreachableAndReconnectedWhenBack()
    {
        await using var a = await StartAsync(1);
        var b = await StartAsync(2);
        var port = b.Endpoint.Port;
        Connect(a, b);
        await AssertServes(a, b, 1);

        await b.DisposeAsync();
        await Eventually(() => a.Raft.Unreachable.Contains(2UL), "peer 2 reported unreachable");
        await a.Log.WaitForAsync(LogLevel.Warning, "lost TCP streaming connection with remote peer");
        await a.Log.WaitForAsync(LogLevel.Warning, "peer became inactive (message send to peer failed)");
        Assert.False(a.Transport.ActiveSince(2).HasValue);

        await using var back = await StartAsync(2, port: port);
        back.Transport.AddPeer(1, [a.Url]);
        var index = 100UL;
        var arrived = Task.Run(async () => await back.Raft.ReceiveAsync(TimeSpan.FromSeconds(5)));
        while (!arrived.IsCompleted)
        {
            a.Transport.Send(Msg(1, 2, index++, MessageType.MsgHeartbeat));
            await Task.Delay(20);
        }
        var first = await arrived;
        Assert.Equal(1UL, first.From);
        Assert.True(a.Transport.ActiveSince(2).HasValue);
        Assert.Equal(2, a.Log.Lines.Count(l => l.Text.StartsWith("established TCP streaming connection", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task FullQueueDropsAndReportsWithoutBlocking()
    {
        // A peer that accepts TCP connections but never answers the handshake: the writer stays
        // connecting, so nothing drains the queue.
        using var hung = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        hung.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        hung.Listen(8);
        using var meters = new MeterRecorder();
        await using var a = await StartAsync(1, meters: meters, configure: o =>
        {
            o.SendQueueCapacity = 16;
            o.HandshakeTimeout = TimeSpan.FromSeconds(30);
        });
        a.Transport.AddPeer(2, [$"tcp://{hung.LocalEndPoint}"]);

        // If Send waited for room, this would never return: the test would time out.
        var sending = Task.Run(() =>
        {
            for (var i = 1UL; i <= 100; i++) a.Transport.Send(Msg(1, 2, i));
        });
        await sending.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(84, a.Raft.Unreachable.Count);
        Assert.All(a.Raft.Unreachable, id => Assert.Equal(2UL, id));
        Assert.Equal(84, meters.Sum("etcd_network_peer_sent_failures_total{To=2}"));
        Assert.Equal(84, a.Log.Lines.Count(l => l.Level == LogLevel.Warning &&
            l.Text.StartsWith("dropped internal Raft message since sending buffer is full (overloaded network)", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task SnapshotWithMultiMiBPayloadArrivesWholeAndReportsFinish()
    {
        await using var a = await StartAsync(1);
        await using var b = await StartAsync(2);
        Connect(a, b);

        var data = new byte[8 * 1024 * 1024 + 13];
        new Random(7).NextBytes(data);
        var snap = SnapMsg(1, 2, data, index: 42);
        a.Transport.Send(Msg(1, 2, 1));
        a.Transport.SendSnapshot(snap);
        a.Transport.Send(Msg(1, 2, 2));
        Assert.Throws<ArgumentException>(() => a.Transport.SendSnapshot(Msg(1, 2, 3)));

        var got = new List<Message>();
        for (var i = 0; i < 3; i++) got.Add(await b.Raft.ReceiveAsync());
        var arrived = Assert.Single(got, m => m.Type.IsMsgSnap);
        Assert.Equal(snap, arrived);
        // The stream's two messages keep their order around the snapshot's own connection.
        Assert.Equal([1UL, 2UL], got.Where(m => m.Type.IsMsgApp).Select(m => m.Index));

        await Eventually(() => a.Raft.Snapshots.Contains((2UL, SnapshotStatus.SnapshotFinish)), "SnapshotFinish for 2");
        Assert.DoesNotContain((2UL, SnapshotStatus.SnapshotFailure), a.Raft.Snapshots);
        await a.Log.WaitForAsync(LogLevel.Information, "sent database snapshot (snapshot-index=42");
        await b.Log.WaitForAsync(LogLevel.Information, "received database snapshot");
    }

    [Fact]
    public async Task RefusedSnapshotReportsFailureAndTheReceiverKeepsServing()
    {
        await using var a = await StartAsync(1);
        await using var b = await StartAsync(2, configure: o => o.MaxSnapshotSize = 1024 * 1024);
        Connect(a, b);

        a.Transport.Send(SnapMsg(1, 2, new byte[2 * 1024 * 1024], index: 5));
        await Eventually(() => a.Raft.Snapshots.Contains((2UL, SnapshotStatus.SnapshotFailure)), "SnapshotFailure for 2");
        Assert.Contains(2UL, a.Raft.Unreachable);
        await a.Log.WaitForAsync(LogLevel.Warning, "failed to send database snapshot (snapshot-index=5");
        Assert.Contains("exceeds the limit of 1048576 bytes",
            await b.Log.WaitForAsync(LogLevel.Warning, "failed to receive database snapshot"));

        var small = SnapMsg(1, 2, new byte[512 * 1024], index: 6);
        a.Transport.Send(small);
        Assert.Equal(small, await b.Raft.ReceiveAsync());
        await Eventually(() => a.Raft.Snapshots.Contains((2UL, SnapshotStatus.SnapshotFinish)), "SnapshotFinish for 2");
    }

    [Fact]
    public async Task SnapshotToAnUnreachablePeerReportsFailure()
    {
        await using var a = await StartAsync(1);
        a.Transport.AddPeer(9, [$"http://127.0.0.1:{FreePort()}"]);
        a.Transport.Send(SnapMsg(1, 9, new byte[1024], index: 3));
        await Eventually(() => a.Raft.Snapshots.Contains((9UL, SnapshotStatus.SnapshotFailure)), "SnapshotFailure for 9");
        Assert.DoesNotContain((9UL, SnapshotStatus.SnapshotFinish), a.Raft.Snapshots);
    }

    [Fact]
    public async Task FullReceiveBufferDropsMessagesButKeepsTheConnection()
    {
        await using var a = await StartAsync(1);
        await using var b = await StartAsync(2, receiveCapacity: 2);
        Connect(a, b);
        for (var i = 1UL; i <= 10; i++) a.Transport.Send(Msg(1, 2, i));
        await Eventually(
            () => b.Log.Lines.Count(l => l.Text.StartsWith("dropped internal Raft message since receiving buffer is full", StringComparison.Ordinal)) == 8,
            "8 receive drops");
        Assert.Equal([1UL, 2UL], b.Raft.Drain().Select(m => m.Index));

        await AssertServes(a, b, 11);
        Assert.Equal(1, a.Log.Lines.Count(l => l.Text.StartsWith("established TCP streaming connection", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task IdleConnectionsCarryLinkHeartbeats()
    {
        // While no message flows, the sender still writes empty frames, which is what keeps the
        // receiver's read timeout from closing an idle connection (a silent one is closed: see
        // PeerBadInputTests.SilentConnectionsAreClosedAfterTheirTimeouts).
        using var metersA = new MeterRecorder();
        using var metersB = new MeterRecorder();
        await using var a = await StartAsync(1, meters: metersA);
        await using var b = await StartAsync(2, configure: o => o.LinkHeartbeatInterval = TimeSpan.FromMilliseconds(20), meters: metersB);
        Connect(a, b);
        await AssertServes(b, a, 1);
        const string received = "etcd_network_peer_received_bytes_total{From=2}";
        const string sent = "etcd_network_peer_sent_bytes_total{To=1}";
        await Eventually(() => metersA.Sum(received) == metersB.Sum(sent), "the first message counted on both sides");
        var before = metersA.Sum(received);

        await Eventually(() => metersA.Sum(received) >= before + 3 * 4, "three link heartbeats");
        Assert.Empty(a.Raft.Drain()); // heartbeats are not messages
        Assert.Equal(0, (metersA.Sum(received) - before) % 4);
        Assert.Equal(1, b.Log.Lines.Count(l => l.Text.StartsWith("established TCP streaming connection", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task RemovedPeerIsNoLongerSentToNorAccepted()
    {
        await using var a = await StartAsync(1);
        await using var b = await StartAsync(2);
        Connect(a, b);
        await AssertServes(b, a, 1);

        a.Transport.RemovePeer(2); // the node's path: returns at once, the connections wind down behind
        Assert.Empty(a.Transport.PeerIds);
        await a.Log.WaitForAsync(LogLevel.Information, "removed remote peer");
        // b's connection was closed; its redial is refused because a no longer knows it.
        await a.Log.WaitForAsync(LogLevel.Warning, "failed to find remote peer in cluster (local-member-id=1, remote-peer-id-from=2");
        Assert.Contains("error sender not found", await b.Log.WaitForAsync(LogLevel.Warning, "request sent was ignored by remote peer"));

        a.Transport.Send(Msg(1, 2, 5));
        Assert.Contains(a.Log.Lines, l => l.Text.StartsWith("ignored message send request; unknown remote peer target", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StopIsCleanAndIdempotent()
    {
        var a = await StartAsync(1);
        var b = await StartAsync(2);
        var endpoint = a.Endpoint;
        Connect(a, b);
        await AssertServes(a, b, 1);
        a.Transport.Send(SnapMsg(1, 2, new byte[4 * 1024 * 1024], index: 1));
        await a.Transport.StopAsync().WaitAsync(TimeSpan.FromSeconds(5));
        await a.DisposeAsync();
        await b.DisposeAsync();
        await b.DisposeAsync();
        // Nothing listens any more.
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await Assert.ThrowsAsync<SocketException>(async () => await probe.ConnectAsync(endpoint));
    }

    internal static Message SnapMsg(ulong from, ulong to, byte[] data, ulong index)
    {
        var cs = new ConfState(
            Microsoft.FSharp.Collections.ListModule.OfSeq(new[] { 1UL, 2UL }),
            Microsoft.FSharp.Collections.FSharpList<ulong>.Empty,
            Microsoft.FSharp.Collections.FSharpList<ulong>.Empty,
            Microsoft.FSharp.Collections.FSharpList<ulong>.Empty,
            false);
        return new Message(MessageType.MsgSnap, to, from, 3, 0, 0, [], 0,
            new Snapshot(data, new SnapshotMetadata(cs, index, 3)), false, 0, []);
    }
}
