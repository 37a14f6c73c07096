using System.Collections.Concurrent;
using System.Threading.Channels;
using Raft.Core;
using Raft.Shell.Transport;

namespace Raft.Shell.Tests.Transport;

/// <summary>
/// The runner's side of the transport as a test sees it: received messages go into a bounded
/// channel (like a runner's queue), reports are recorded in order.
/// </summary>
internal sealed class RecordingRaft(int capacity = 100_000) : ITransportRaft
{
    private readonly Channel<Message> received = Channel.CreateBounded<Message>(capacity);

    public ConcurrentQueue<ulong> Unreachable { get; } = new();
    public ConcurrentQueue<(ulong Id, SnapshotStatus Status)> Snapshots { get; } = new();
    public ConcurrentQueue<ulong> RemovedReports { get; } = new();
    public ConcurrentDictionary<ulong, bool> Removed { get; } = new();

    public bool TryProcess(Message message) => received.Writer.TryWrite(message);
    public bool IsIdRemoved(ulong id) => Removed.ContainsKey(id);
    public void ReportUnreachable(ulong id) => Unreachable.Enqueue(id);
    public void ReportSnapshot(ulong id, SnapshotStatus status) => Snapshots.Enqueue((id, status));
    public void ReportRemoved(ulong reportedBy) => RemovedReports.Enqueue(reportedBy);

    /// <summary>The next received message, failing the test if none comes within the timeout.</summary>
    public async Task<Message> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(5));
        try
        {
            return await received.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("no message arrived");
        }
    }

    /// <summary>Whatever has arrived so far, without waiting.</summary>
    public List<Message> Drain()
    {
        var all = new List<Message>();
        while (received.Reader.TryRead(out var m)) all.Add(m);
        return all;
    }
}
