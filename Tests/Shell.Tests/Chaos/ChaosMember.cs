using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Raft.Shell.Tests.EndToEnd;

namespace Raft.Shell.Tests.Chaos;

/// <summary>
/// One member (<c>raft serve</c> or etcd, see <see cref="MemberFlavour"/>) on its own loopback address (127.0.1.<i>n</i> unless RAFT_CHAOS_NET says otherwise) for both its client
/// and peer URLs, with free ports on that address, so that iptables rules between two addresses cut
/// exactly the traffic between two members. It can be killed (SIGKILL), paused (SIGSTOP), resumed
/// (SIGCONT) and restarted on the same address, ports and data.
/// </summary>
internal sealed class ChaosMember : IDisposable
{
    private const int SigStop = 19;
    private const int SigCont = 18;
    private readonly StringBuilder _earlierOutput = new();

    public ChaosMember(int index, string dataDir, string token, MemberFlavour? flavour = null)
    {
        Flavour = flavour ?? MemberFlavour.Raft;
        Index = index;
        Name = $"m{index}";
        Address = ChaosNet.Address(index);
        DataDir = dataDir;
        Token = token;
        ClientUrl = $"http://{Address}:{FreePort(Address)}";
        PeerUrl = $"http://{Address}:{FreePort(Address)}";
        Client = new GatewayClient(ClientUrl, TimeSpan.FromSeconds(2));
    }

    /// <summary>The program the member runs.</summary>
    public MemberFlavour Flavour { get; }

    /// <summary>The member's number, 1 for m1.</summary>
    public int Index { get; }

    public string Name { get; }
    public string Address { get; }
    public string DataDir { get; }
    public string Token { get; }
    public string ClientUrl { get; }
    public string PeerUrl { get; }

    /// <summary>The harness's own client (status polls, final reads).</summary>
    public GatewayClient Client { get; }

    public string InitialCluster { get; set; } = "";

    /// <summary><c>--initial-cluster-state</c>: "new" for the first members, "existing" for one added later.</summary>
    public string InitialClusterState { get; set; } = "new";

    /// <summary>Further flags (snapshot count ...).</summary>
    public List<string> Flags { get; } = [];

    /// <summary>Environment of the next process (RAFT_FAILPOINTS_HTTP, RAFT_FAILPOINTS ...).</summary>
    public Dictionary<string, string> Environment { get; } = new();

    public RaftProcess? Process { get; private set; }

    public bool IsRunning
    {
        get
        {
            // Read by client tasks while the harness restarts the member.
            var p = Process;
            try
            {
                return p is { HasExited: false };
            }
            catch (InvalidOperationException)
            {
                return false;
            }
        }
    }

    /// <summary>Stopped with SIGSTOP and not yet continued.</summary>
    public bool IsPaused { get; private set; }

    /// <summary>Up and answering (running, not paused).</summary>
    public bool IsServing => IsRunning && !IsPaused;

    public ulong Id { get; private set; }

    /// <summary>How many times this member was started.</summary>
    public int Lives { get; private set; }

    /// <summary>Everything every process of this member printed, oldest first.</summary>
    public string Output
    {
        get
        {
            lock (_earlierOutput) return _earlierOutput + (Process?.Output ?? "");
        }
    }

    /// <summary>Starts a process (the previous one must be gone) without waiting for it.</summary>
    public void Launch()
    {
        Assert.False(IsRunning, $"{Name} is already running");
        var old = Process;
        if (old is not null)
            lock (_earlierOutput) _earlierOutput.Append(old.Output).AppendLine($"==== {Name}: restarted ====");
        IsPaused = false;
        Lives++;
        Process = Flavour.Start(this);
        old?.Dispose();
    }

    /// <summary>Waits for the start line; fails the test with the output if the process does not serve.</summary>
    public async Task WaitStartedAsync(TimeSpan timeout)
    {
        var p = Process ?? throw new InvalidOperationException("not launched");
        Assert.True(await p.WaitForOutputAsync(Flavour.ReadyText(this), timeout), $"{Name} did not start:\n{ProcessCluster.Tail(Output, 40)}");
        var m = Flavour.IdPattern.Match(p.Output);
        Assert.True(m.Success, $"{Name}: no start line in\n{p.Output}");
        Id = ulong.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }

    /// <summary>SIGKILL (a paused process dies too).</summary>
    public void Kill()
    {
        Process?.Kill();
        IsPaused = false;
    }

    /// <summary>SIGSTOP: the process freezes with its sockets open, as a long GC pause or a stalled VM.</summary>
    public void Pause()
    {
        Assert.True(IsRunning, $"{Name} is not running");
        Assert.Equal(0, SendSignal(Process!.Id, SigStop));
        IsPaused = true;
    }

    /// <summary>SIGCONT.</summary>
    public void Resume()
    {
        if (!IsPaused) return;
        if (IsRunning) Assert.Equal(0, SendSignal(Process!.Id, SigCont));
        IsPaused = false;
    }

    /// <summary>A free port on <paramref name="address"/> (bound, then released).</summary>
    private static int FreePort(string address) => FreePorts.On(address);

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    public override string ToString() => $"{Name} ({Address})";

    /// <summary>Resumes paused members and starts stopped ones; waits until those started serve.</summary>
    public static async Task HealAllAsync(IEnumerable<ChaosMember> members)
    {
        var launched = new List<ChaosMember>();
        foreach (var m in members)
        {
            m.Resume();
            if (m.IsRunning) continue;
            m.Launch();
            launched.Add(m);
        }
        foreach (var m in launched)
            await m.WaitStartedAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>A member that says it is the leader and that a majority of members name as leader.</summary>
    public static Task<ChaosMember> FindLeaderAsync(IReadOnlyList<ChaosMember> members, TimeSpan timeout, Func<string> diagnostics) =>
        Wait.ForAsync("a leader a majority agrees on", timeout, async () =>
        {
            var statuses = await Task.WhenAll(members.Where(m => m.IsServing).Select(async m => (m, s: await m.Client.StatusAsync())));
            foreach (var (m, s) in statuses)
            {
                if (s is null || s.Leader != m.Id) continue;
                if (statuses.Count(x => x.s?.Leader == m.Id) > members.Count / 2)
                    return m;
            }
            return null;
        }, diagnostics);

    /// <summary>The tail of every member's output, for a failing assertion's message.</summary>
    public static string Diagnostics(IEnumerable<ChaosMember> members) =>
        string.Join("\n", members.Select(m => $"--- {m.Name} ({(m.IsPaused ? "paused" : m.IsRunning ? "running" : "stopped")}):\n{ProcessCluster.Tail(m.Output, 30)}"));

    public void Dispose()
    {
        Kill();
        Process?.Dispose();
        Client.Dispose();
    }
}
