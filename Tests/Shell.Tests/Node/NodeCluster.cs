using System.Net;
using System.Net.Sockets;
using Raft.Shell.Node;

namespace Raft.Shell.Tests.Node;

/// <summary>
/// Real members in this process: each with its own WAL in a temp directory and the TCP transport
/// on loopback.
/// </summary>
public sealed class NodeCluster : IAsyncDisposable
{
    private readonly TempDir _dir = new();
    private readonly Dictionary<string, int> _ports = new();

    public NodeCluster(int size, int snapshotCount = 10_000, ulong catchUp = 5_000)
    {
        SnapshotCount = snapshotCount;
        CatchUp = catchUp;
        for (var i = 1; i <= size; i++)
            _ports[$"m{i}"] = FreePort();
        InitialCluster = string.Join(",", _ports.Select(kv => $"{kv.Key}={Url(kv.Value)}"));
    }

    public int SnapshotCount { get; }
    public int HealthIntervalMs { get; init; } = 100;
    public ulong CatchUp { get; }
    public string InitialCluster { get; }
    public Dictionary<string, RaftNode> Nodes { get; } = new();
    public Dictionary<string, ListStateMachine> Machines { get; } = new();

    public static int FreePort() => FreePort("127.0.0.1");

    /// <summary>A port free on <paramref name="address"/> (bound, then released).</summary>
    public static int FreePort(string address) => FreePorts.On(address);

    public static string Url(int port) => $"http://127.0.0.1:{port}";

    public string PeerUrl(string name) => Url(_ports[name]);

    public string DataDir(string name) => _dir.Sub(name);

    public RaftNodeOptions Options(string name, string? initialCluster = null, string state = "new")
    {
        if (!_ports.ContainsKey(name))
            _ports[name] = FreePort();
        return new RaftNodeOptions
        {
            Name = name,
            DataDir = DataDir(name),
            ListenPeerUrls = PeerUrl(name),
            InitialAdvertisePeerUrls = PeerUrl(name),
            InitialCluster = initialCluster ?? InitialCluster,
            InitialClusterState = state,
            HeartbeatIntervalMs = 20,
            ElectionTimeoutMs = 200,
            SnapshotCount = (ulong)SnapshotCount,
            SnapshotCatchUpEntries = CatchUp,
            HealthIntervalMs = HealthIntervalMs,
        };
    }

    public async Task StartAllAsync()
    {
        var names = _ports.Keys.ToArray();
        await Task.WhenAll(names.Select(n => StartAsync(n)));
    }

    public async Task<RaftNode> StartAsync(string name, RaftNodeOptions? options = null, RaftNodeDependencies? deps = null)
    {
        var sm = new ListStateMachine();
        var node = await RaftNode.StartAsync(options ?? Options(name), sm, deps);
        lock (Nodes)
        {
            Nodes[name] = node;
            Machines[name] = sm;
        }
        return node;
    }

    /// <summary>Starts a member over a state machine of the caller's (not tracked in <see cref="Machines"/>).</summary>
    public async Task<RaftNode> StartWithAsync(string name, Raft.Interop.IStateMachine stateMachine, RaftNodeOptions? options = null)
    {
        RaftNodeDependencies? deps = null;
        if (Environment.GetEnvironmentVariable("RAFT_DEBUG_LOG") is { } log)
        {
            var f = new Microsoft.Extensions.Logging.LoggerFactory();
            f.AddProvider(new DebugFileLogger(log, name));
            deps = new RaftNodeDependencies { LoggerFactory = f };
        }
        var node = await RaftNode.StartAsync(options ?? Options(name), stateMachine, deps);
        lock (Nodes)
            Nodes[name] = node;
        return node;
    }

    public async Task StopAsync(string name)
    {
        RaftNode node;
        lock (Nodes)
        {
            node = Nodes[name];
            Nodes.Remove(name);
        }
        await node.DisposeAsync();
    }

    public async Task<RaftNode> LeaderAsync(int timeoutMs = 10_000)
    {
        RaftNode? leader = null;
        await SingleNodeTests.WaitUntil(() =>
        {
            lock (Nodes)
                leader = Nodes.Values.FirstOrDefault(n => n.Status.Role == Raft.Interop.NodeRole.Leader);
            return leader is not null;
        }, timeoutMs);
        return leader!;
    }

    /// <summary>Waits until every running member has applied the same commands.</summary>
    public Task ConvergedAsync(int count, int timeoutMs = 15_000) =>
        SingleNodeTests.WaitUntil(() =>
        {
            lock (Nodes)
                return Nodes.Keys.All(n => Machines[n].Items.Count == count);
        }, timeoutMs);

    public async ValueTask DisposeAsync()
    {
        RaftNode[] all;
        lock (Nodes)
            all = Nodes.Values.ToArray();
        await Task.WhenAll(all.Select(n => n.DisposeAsync().AsTask()));
        _dir.Dispose();
    }
}
