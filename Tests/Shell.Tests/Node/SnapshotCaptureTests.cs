using System.Text;
using Raft.Interop;
using Raft.Shell.Node;

namespace Raft.Shell.Tests.Node;

/// <summary>
/// A state machine that captures its state for a snapshot (<see cref="ISnapshotCapture"/>) is
/// serialized off the apply loop: applying goes on meanwhile, and the snapshot holds the state as of
/// the capture.
/// </summary>
public class SnapshotCaptureTests
{
    /// <summary>The list machine, whose serialization waits at a gate the test opens.</summary>
    private sealed class GatedCapture : IStateMachine, ISnapshotCapture
    {
        public ListStateMachine Inner { get; } = new();
        public ManualResetEventSlim Gate { get; } = new(false);
        public List<ulong> CapturedAt { get; } = [];

        public object? Apply(ulong index, ReadOnlyMemory<byte> command) => Inner.Apply(index, command);

        public byte[] TakeSnapshot() => throw new InvalidOperationException("the node must capture, not take, the snapshot");

        public void Restore(ReadOnlyMemory<byte> snapshot) => Inner.Restore(snapshot);

        public Func<byte[]> CaptureSnapshot()
        {
            lock (CapturedAt) CapturedAt.Add(Inner.AppliedIndexes.Count > 0 ? Inner.AppliedIndexes[^1] : 0);
            var bytes = Inner.TakeSnapshot();
            return () =>
            {
                Gate.Wait(TimeSpan.FromSeconds(60));
                return bytes;
            };
        }
    }

    private static RaftNodeOptions Options(string dataDir) => new()
    {
        Name = "n1",
        DataDir = dataDir,
        HeartbeatIntervalMs = 10,
        ElectionTimeoutMs = 100,
        SnapshotCount = 10,
        SnapshotCatchUpEntries = 5,
        ListenPeerUrls = "http://127.0.0.1:0",
    };

    [Fact]
    public async Task ApplyingGoesOnWhileACapturedSnapshotIsSerialized()
    {
        using var dir = new TempDir();
        var sm = new GatedCapture();
        ulong capturedAt;
        await using (var node = await RaftNode.StartAsync(Options(dir.Path), sm))
        {
            for (var i = 0; i < 15; i++)
                await node.ProposeAsync(Encoding.UTF8.GetBytes($"c{i}"));
            await SingleNodeTests.WaitUntil(() => { lock (sm.CapturedAt) return sm.CapturedAt.Count > 0; });
            lock (sm.CapturedAt) capturedAt = sm.CapturedAt[0];

            // The serialization is held at the gate; proposals are still applied and answered.
            for (var i = 15; i < 45; i++)
                await node.ProposeAsync(Encoding.UTF8.GetBytes($"c{i}")).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(0UL, node.Status.SnapshotIndex);
            lock (sm.CapturedAt) Assert.Single(sm.CapturedAt);

            sm.Gate.Set();
            // The held snapshot is saved at the index it was captured at. (Once the gate is open the
            // next capture, due after 30 more entries, may follow at once, so the node's latest
            // snapshot index may already be a later capture's.)
            var snapDir = Path.Combine(dir.Path, "member", "snap");
            await SingleNodeTests.WaitUntil(() => node.Status.SnapshotIndex > 0);
            await SingleNodeTests.WaitUntil(() => Directory.GetFiles(snapDir, $"*-{capturedAt:x16}.snap").Length == 1);
            lock (sm.CapturedAt) Assert.Contains(node.Status.SnapshotIndex, sm.CapturedAt);
        }

        // The snapshot on disk holds the captured state: a restart restores it and replays the rest.
        var again = new GatedCapture();
        again.Gate.Set();
        await using var restarted = await RaftNode.StartAsync(Options(dir.Path), again);
        await restarted.ReadIndexAsync();
        Assert.Equal(1, again.Inner.Restores);
        Assert.Equal(Enumerable.Range(0, 45).Select(i => $"c{i}"), again.Inner.Items);
    }

    /// <summary>The list machine, whose serialization takes a fixed time.</summary>
    private sealed class SlowCapture(TimeSpan serializeTime) : IStateMachine, ISnapshotCapture
    {
        public ListStateMachine Inner { get; } = new();
        public List<long> CapturedAt { get; } = [];
        public List<ulong> CapturedIndex { get; } = [];
        public List<long> SerializedAt { get; } = [];

        public object? Apply(ulong index, ReadOnlyMemory<byte> command) => Inner.Apply(index, command);

        public byte[] TakeSnapshot() => Inner.TakeSnapshot();

        public void Restore(ReadOnlyMemory<byte> snapshot) => Inner.Restore(snapshot);

        public Func<byte[]> CaptureSnapshot()
        {
            lock (CapturedAt)
            {
                CapturedAt.Add(System.Diagnostics.Stopwatch.GetTimestamp());
                CapturedIndex.Add(Inner.AppliedIndexes.Count > 0 ? Inner.AppliedIndexes[^1] : 0);
            }
            var bytes = Inner.TakeSnapshot();
            return () =>
            {
                Thread.Sleep(serializeTime);
                lock (CapturedAt) SerializedAt.Add(System.Diagnostics.Stopwatch.GetTimestamp());
                return bytes;
            };
        }
    }

    [Fact]
    public async Task ASlowSnapshotHoldsBackTheNextForAMultipleOfItsDurationAndAnIdleMemberStillTakesIt()
    {
        using var dir = new TempDir();
        var serializeTime = TimeSpan.FromMilliseconds(200);
        var sm = new SlowCapture(serializeTime);
        await using var node = await RaftNode.StartAsync(Options(dir.Path), sm);
        for (var i = 0; i < 12; i++)
            await node.ProposeAsync(Encoding.UTF8.GetBytes($"c{i}"));
        await SingleNodeTests.WaitUntil(() => node.Status.SnapshotIndex > 0);
        var first = node.Status.SnapshotIndex;

        // Due again at once by count; then nothing more is proposed. (Proposed together, so they
        // are done long before the first's pause of 9 × T ends, even on a slow disk.)
        await Task.WhenAll(Enumerable.Range(12, 12).Select(i => node.ProposeAsync(Encoding.UTF8.GetBytes($"c{i}"))));
        var proposalsDone = System.Diagnostics.Stopwatch.GetTimestamp();
        var appliedWhenDone = node.AppliedIndex;
        await SingleNodeTests.WaitUntil(() => { lock (sm.CapturedAt) return sm.CapturedAt.Count == 2; });
        await SingleNodeTests.WaitUntil(() => node.Status.SnapshotIndex > first);

        // The first took at least the serialization time T from trigger to saved, and was saved
        // after its serialization ended, so the second started no sooner than factor × T after that.
        TimeSpan gap;
        lock (sm.CapturedAt) gap = System.Diagnostics.Stopwatch.GetElapsedTime(sm.SerializedAt[0], sm.CapturedAt[1]);
        Assert.True(gap >= SnapshotScheduler.PauseFactor * serializeTime, $"second snapshot {gap} after the first was serialized");
        // The snapshot saved is the second capture's, at the index applied when it was captured.
        ulong capturedIndex;
        long capturedAt;
        lock (sm.CapturedAt) (capturedIndex, capturedAt) = (sm.CapturedIndex[1], sm.CapturedAt[1]);
        Assert.Equal(capturedIndex, node.Status.SnapshotIndex);
        // Taken while idle (captured after the last proposal was answered), it holds everything
        // applied. A disk so slow that the proposals outlast the pause leaves nothing idle to check.
        if (capturedAt > proposalsDone)
            Assert.Equal(appliedWhenDone, node.Status.SnapshotIndex);
        else
            Console.WriteLine($"the proposals outlasted the pause; captured at {capturedIndex} while proposing");
    }
}
