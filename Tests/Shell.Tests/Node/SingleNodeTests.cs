using Raft.Shell.Node.Advanced;
using System.Text;
using Raft.Interop;
using Raft.Shell.Node;

namespace Raft.Shell.Tests.Node;

public class SingleNodeTests
{
    private static RaftNodeOptions Options(string dataDir, int snapshotCount = 10_000) => new()
    {
        Name = "n1",
        DataDir = dataDir,
        HeartbeatIntervalMs = 10,
        ElectionTimeoutMs = 100,
        SnapshotCount = (ulong)snapshotCount,
        SnapshotCatchUpEntries = 5,
        ListenPeerUrls = "http://127.0.0.1:0",
    };

    private static ReadOnlyMemory<byte> Bytes(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task ProposesAppliesAndRestartsWithItsData()
    {
        using var dir = new TempDir();
        var sm = new ListStateMachine();
        await using (var node = await RaftNode.StartAsync(Options(dir.Path), sm))
        {
            for (var i = 0; i < 20; i++)
                Assert.Equal(i + 1, await node.ProposeAsync(Bytes($"cmd{i}")));
            Assert.Equal(NodeRole.Leader, node.Status.Role);
            Assert.Equal(node.MemberId, node.Status.Leader);
            var member = Assert.Single(node.Members);
            Assert.Equal(node.MemberId, member.Id);
        }

        var sm2 = new ListStateMachine();
        await using var again = await RaftNode.StartAsync(Options(dir.Path), sm2);
        // The restarted member replays its WAL into the fresh state machine.
        await again.ReadIndexAsync();
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"cmd{i}"), sm2.Items);
        Assert.Equal(21, await again.ProposeAsync(Bytes("after")));
    }

    [Fact]
    public async Task APeerPortInUseFailsTheStartNamingTheUrlAndLeavesTheDataUsable()
    {
        using var dir = new TempDir();
        using var taken = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        taken.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        taken.Listen();
        var url = $"http://127.0.0.1:{((System.Net.IPEndPoint)taken.LocalEndPoint!).Port}";
        var options = Options(dir.Path);
        options.ListenPeerUrls = url;

        var ex = await Assert.ThrowsAsync<NodeStartException>(() => RaftNode.StartAsync(options, new ListStateMachine()));
        Assert.Contains($"cannot listen for peers on {url}", ex.Message);

        // The failed first start removed the WAL it had created (without the bootstrap entries it
        // would restart as a member of no cluster), so the same directory starts on a free port.
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "member")));
        await using var node = await RaftNode.StartAsync(Options(dir.Path), new ListStateMachine());
        Assert.Equal(1, await node.ProposeAsync(Bytes("after")));
    }

    [Fact]
    public async Task SnapshotsCompactAndRestartFromTheSnapshot()
    {
        using var dir = new TempDir();
        var sm = new ListStateMachine();
        await using (var node = await RaftNode.StartAsync(Options(dir.Path, snapshotCount: 10), sm))
        {
            for (var i = 0; i < 50; i++)
                await node.ProposeAsync(Bytes($"c{i}"));
            await WaitUntil(() => node.Status.SnapshotIndex > 0);
        }
        var snaps = Directory.GetFiles(Path.Combine(dir.Path, "member", "snap"), "*.snap");
        Assert.NotEmpty(snaps);

        var sm2 = new ListStateMachine();
        await using var again = await RaftNode.StartAsync(Options(dir.Path, snapshotCount: 10), sm2);
        await again.ReadIndexAsync();
        Assert.Equal(1, sm2.Restores);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"c{i}"), sm2.Items);
        Assert.True(again.Status.SnapshotIndex > 0);
    }

    [Fact]
    public async Task StoppedNodeRefusesRequests()
    {
        using var dir = new TempDir();
        var node = await RaftNode.StartAsync(Options(dir.Path), new ListStateMachine());
        await node.ProposeAsync(Bytes("x"));
        await node.DisposeAsync();
        var ex = await Assert.ThrowsAsync<RaftException>(() => node.ProposeAsync(Bytes("y")));
        Assert.Equal(RaftErrorCode.Stopped, ex.Code);
        await node.Stopped;
    }

    [Fact]
    public async Task StoppingUnderLoadEndsEveryRequestAndKeepsWhatWasAcknowledged()
    {
        using var dir = new TempDir();
        var node = await RaftNode.StartAsync(Options(dir.Path), new ListStateMachine());
        var acknowledged = new System.Collections.Concurrent.ConcurrentBag<string>();
        var stopped = 0;
        var workers = Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
        {
            for (var i = 0; ; i++)
            {
                var cmd = $"w{w}-{i}";
                try
                {
                    await node.ProposeAsync(Bytes(cmd));
                    acknowledged.Add(cmd);
                }
                catch (RaftException e) when (e.Code == RaftErrorCode.Stopped)
                {
                    Interlocked.Increment(ref stopped);
                    return;
                }
            }
        })).ToArray();
        await WaitUntil(() => acknowledged.Count > 200);
        await node.DisposeAsync();
        // No request hangs: every worker saw the stop.
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(16, stopped);

        var sm = new ListStateMachine();
        await using var again = await RaftNode.StartAsync(Options(dir.Path), sm);
        await again.ReadIndexAsync();
        var items = sm.Items.ToHashSet();
        Assert.All(acknowledged, a => Assert.Contains(a, items));
    }

    [Fact]
    public async Task TooLargeProposalIsRefused()
    {
        using var dir = new TempDir();
        await using var node = await RaftNode.StartAsync(Options(dir.Path), new ListStateMachine());
        var ex = await Assert.ThrowsAsync<RaftException>(() => node.ProposeAsync(new byte[2 * 1024 * 1024]));
        Assert.Equal(RaftErrorCode.RequestTooLarge, ex.Code);
    }

    [Fact]
    public async Task TheRunnerRunsThePlanItIsGiven()
    {
        // A planner that forgets to save: the node still answers (it applies), but nothing reaches
        // the WAL, which the real planner's run above shows is where the data survives.
        static Raft.Core.Plan NoSave(Raft.Core.PlanInput input, Raft.Core.PlannerState state)
        {
            var plan = Raft.Core.Planner.plan(input, state);
            var effects = Microsoft.FSharp.Collections.ListModule.Filter(
                Microsoft.FSharp.Core.FuncConvert.FromFunc<Raft.Core.Effect, bool>(e => !e.IsSave), plan.Effects);
            return new Raft.Core.Plan(effects, plan.State);
        }

        static async Task<int> SavedEntries(string dataDir, PlannerFunction? planner)
        {
            await using (var node = await RaftNode.StartAsync(Options(dataDir), new ListStateMachine(), new RaftNodeDependencies { Planner = planner }))
            {
                for (var i = 0; i < 5; i++)
                    await node.ProposeAsync(Bytes($"cmd{i}"));
            }
            var (storage, state) = Raft.Shell.Storage.NodeStorage.Restart(dataDir);
            storage.Close();
            return state.Entries.Length;
        }

        using var good = new TempDir();
        using var broken = new TempDir();
        Assert.True(await SavedEntries(good.Path, null) >= 6);
        Assert.Equal(0, await SavedEntries(broken.Path, NoSave));
    }

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition, int timeoutMs = 10_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("condition not met in time");
            await Task.Delay(10);
        }
    }

    internal static async Task WaitUntil(Func<bool> condition, int timeoutMs = 10_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("condition not met in time");
            await Task.Delay(10);
        }
    }
}
