using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Raft.Shell.Tests.Node;

namespace Raft.Shell.Tests.EndToEnd;

/// <summary>
/// One member of a cluster run as <c>raft serve</c> processes: its own free ports on 127.0.0.1, its
/// data directory, its flags. It can be started, killed and started again on the same ports and data,
/// like an operator's etcd member.
/// </summary>
internal sealed partial class Member : IDisposable
{
    private readonly StringBuilder _earlierOutput = new();

    /// <param name="name">The member's name.</param>
    /// <param name="dataDir">Its data directory.</param>
    /// <param name="token">The cluster token.</param>
    /// <param name="host">The loopback address of both its ports (127.0.0.1 unless a test has its own range).</param>
    public Member(string name, string dataDir, string token, string host = "127.0.0.1")
    {
        Name = name;
        DataDir = dataDir;
        Token = token;
        var address = System.Net.IPAddress.Parse(host);
        ClientUrl = $"http://{host}:{NodeCluster.FreePort(address)}";
        PeerUrl = $"http://{host}:{NodeCluster.FreePort(address)}";
        Client = new GatewayClient(ClientUrl);
    }

    public string Name { get; }
    public string DataDir { get; }
    public string Token { get; }
    public string ClientUrl { get; }
    public string PeerUrl { get; }
    public int PeerPort => new Uri(PeerUrl).Port;

    /// <summary><c>--initial-cluster</c>; this member alone unless set.</summary>
    public string? InitialCluster { get; set; }

    /// <summary><c>--initial-cluster-state</c>.</summary>
    public string ClusterState { get; set; } = "new";

    /// <summary>Further flags (timing, snapshot count ...).</summary>
    public List<string> Flags { get; } = [];

    /// <summary>Environment of the process (failpoints, planner).</summary>
    public Dictionary<string, string> Environment { get; } = new();

    public GatewayClient Client { get; }

    /// <summary>The running (or last) process.</summary>
    public RaftProcess? Process { get; private set; }

    public bool IsRunning => Process is { HasExited: false };

    /// <summary>The member id, as its start line printed it.</summary>
    public ulong Id { get; private set; }

    /// <summary>The cluster id, as its start line printed it.</summary>
    public ulong ClusterId { get; private set; }

    /// <summary>What every process of this member printed, oldest first.</summary>
    public string Output => _earlierOutput + (Process?.Output ?? "");

    public IEnumerable<string> Args()
    {
        string[] args =
        [
            "serve", "--name", Name, "--data-dir", DataDir,
            "--listen-client-urls", ClientUrl, "--advertise-client-urls", ClientUrl,
            "--listen-peer-urls", PeerUrl, "--initial-advertise-peer-urls", PeerUrl,
            "--initial-cluster", InitialCluster ?? $"{Name}={PeerUrl}",
            "--initial-cluster-state", ClusterState, "--initial-cluster-token", Token,
        ];
        return args.Concat(Flags);
    }

    /// <summary>Starts the process (the previous one must be gone) without waiting for it.</summary>
    public void Launch()
    {
        Assert.False(IsRunning, $"{Name} is already running");
        if (Process is { } old)
        {
            _earlierOutput.Append(old.Output);
            old.Dispose();
        }
        Process = RaftProcess.Start(Args(), Environment);
    }

    /// <summary>Waits until the process has started serving (its start line); returns false if it exited first.</summary>
    public async Task<bool> WaitStartedAsync(TimeSpan timeout)
    {
        var p = Process ?? throw new InvalidOperationException("not launched");
        if (!await p.WaitForOutputAsync($"{Name}: member ", timeout))
            return false;
        var m = StartLine().Match(p.Output);
        Assert.True(m.Success, $"{Name}: no start line in\n{p.Output}");
        Id = ulong.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        ClusterId = ulong.Parse(m.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return true;
    }

    /// <summary>Launches and waits until it serves; fails the test with its output if it does not.</summary>
    public async Task StartAsync()
    {
        Launch();
        Assert.True(await WaitStartedAsync(TimeSpan.FromSeconds(60)), $"{Name} did not start:\n{Output}");
    }

    /// <summary>SIGKILL.</summary>
    public void Kill() => Process?.Kill();

    [GeneratedRegex(@": member ([0-9a-f]+) of cluster ([0-9a-f]+);")]
    private static partial Regex StartLine();

    public override string ToString() => $"{Name} ({Id:x}, {ClientUrl})";

    public void Dispose()
    {
        Process?.Dispose();
        Client.Dispose();
    }
}
