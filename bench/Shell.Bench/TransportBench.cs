using BenchmarkDotNet.Attributes;
using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.Transport;

namespace Raft.Shell.Bench;

/// <summary>
/// Throughput of the peer transport: one member streams MsgApps (256-byte entries) to another over
/// loopback TCP; an operation is one message sent, framed, written, read, decoded and handed to
/// the receiver's raft. Messages/s is 1 / (time per op); MB/s multiplies by <see cref="WireBytes"/>.
/// </summary>
[MemoryDiagnoser]
public class TransportBench
{
    private const int Burst = 20_000;

    private PeerTransport sender = null!;
    private PeerTransport receiver = null!;
    private readonly CountingRaft sink = new();
    private readonly CountingRaft senderRaft = new();
    private Message[] messages = [];

    /// <summary>Entries per MsgApp, 256 bytes of data each.</summary>
    [Params(1, 16)]
    public int Entries { get; set; }

    /// <summary>Bytes one message takes on the wire, length prefix included.</summary>
    public int WireBytes => 4 + RaftpbMarshal.Marshal(messages[0]).Length;

    [GlobalSetup]
    public void Setup()
    {
        receiver = Start(2, sink);
        sender = Start(1, senderRaft);
        sender.AddPeer(2, [$"http://{receiver.ListenEndpoints[0]}"]);
        receiver.AddPeer(1, [$"http://{sender.ListenEndpoints[0]}"]);
        messages = Enumerable.Range(0, Burst).Select(i => MsgApp((ulong)i * (ulong)Entries)).ToArray();

        // Wait until the stream is up, so the first iteration does not measure the dial.
        sink.Expect(1);
        while (!sink.Done.Wait(50)) sender.Send(MsgApp(0));
        Thread.Sleep(200); // let any extra probe land before the first measured burst
        Console.WriteLine($"// {Entries} entries per MsgApp: {WireBytes} bytes per frame");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        sender.DisposeAsync().AsTask().GetAwaiter().GetResult();
        receiver.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(OperationsPerInvoke = Burst)]
    public void StreamMsgApp()
    {
        sink.Expect(Burst);
        foreach (var m in messages) sender.Send(m);
        if (!sink.Done.Wait(TimeSpan.FromSeconds(60))) throw new TimeoutException("messages were lost");
        if (senderRaft.Unreachable > 0) throw new InvalidOperationException("the sender dropped messages");
    }

    private Message MsgApp(ulong index)
    {
        var ents = new Entry[Entries];
        for (var i = 0; i < ents.Length; i++) ents[i] = new Entry(2, index + (ulong)i + 1, EntryType.EntryNormal, new byte[256]);
        return new Message(MessageType.MsgApp, 2, 1, 2, 2, index, ents, index, Pb.emptySnapshot, false, 0, []);
    }

    private static PeerTransport Start(ulong id, CountingRaft raft)
    {
        var t = new PeerTransport(new PeerTransportOptions
        {
            MemberId = id,
            ClusterId = 1,
            ListenPeerUrls = ["http://127.0.0.1:0"],
            SendQueueCapacity = Burst * 2, // a whole burst is queued at once
        }, raft);
        t.StartAsync().GetAwaiter().GetResult();
        return t;
    }

    /// <summary>Counts deliveries and signals when the expected number arrived.</summary>
    private sealed class CountingRaft : ITransportRaft
    {
        private int remaining;

        public ManualResetEventSlim Done { get; } = new();
        public int Unreachable;

        public void Expect(int n)
        {
            Done.Reset();
            Volatile.Write(ref remaining, n);
        }

        public bool TryProcess(Message message)
        {
            if (Interlocked.Decrement(ref remaining) == 0) Done.Set();
            return true;
        }

        public bool IsIdRemoved(ulong id) => false;
        public void ReportUnreachable(ulong id) => Interlocked.Increment(ref Unreachable);
        public void ReportSnapshot(ulong id, SnapshotStatus status) { }
        public void ReportRemoved(ulong reportedBy) { }
    }
}
