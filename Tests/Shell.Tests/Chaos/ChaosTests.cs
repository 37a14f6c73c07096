using System.Net;
using System.Net.Sockets;
using Raft.Shell.Tests.Storage;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Chaos;

/// <summary>
/// Real <c>raft serve</c> processes under seeded faults (SIGKILL, SIGSTOP, iptables partitions,
/// membership changes, slow-disk restarts) with concurrent clients; every history must be
/// linearizable, no acknowledged write lost, no member's revision may go back for its client, and
/// at the end every member holds the same data. Each run's figures go to the test output and to
/// <c>TestResults/chaos-figures/</c>. RAFT_CHAOS_SECONDS (faults per run, 20 by default)
/// and RAFT_CHAOS_RUNS (runs per test, seeds seed, seed+1, ...; 1 by default) lengthen the profile.
/// </summary>
[Collection(ProcessCollection.Name)]
public class ChaosTests(ITestOutputHelper output)
{
    private const int Clients = 6;

    private static TimeSpan Duration =>
        TimeSpan.FromSeconds(int.TryParse(Environment.GetEnvironmentVariable("RAFT_CHAOS_SECONDS"), out var s) && s > 0 ? s : 20);

    private static int Runs =>
        int.TryParse(Environment.GetEnvironmentVariable("RAFT_CHAOS_RUNS"), out var r) && r > 0 ? r : 1;

    private Task RunAsync(string label, int size, bool partitions, params FaultKind[] kinds) =>
        RunProfileAsync(output, MemberFlavour.Raft, label, size, partitions, kinds);

    private Task RunAsync(string label, int size, bool partitions, Func<ChaosRun, int, Task<ChaosFigures>> body) =>
        RunProfileAsync(output, MemberFlavour.Raft, label, size, partitions, body);

    /// <summary>RAFT_CHAOS_RUNS runs of <paramref name="flavour"/> (seeds seed, seed+1, ...) under <paramref name="kinds"/>.</summary>
    internal static Task RunProfileAsync(ITestOutputHelper output, MemberFlavour flavour, string label, int size, bool partitions,
        params FaultKind[] kinds) =>
        RunProfileAsync(output, flavour, label, size, partitions, (run, seed) => run.RunAsync(kinds, Duration, Clients));

    private static async Task RunProfileAsync(ITestOutputHelper output, MemberFlavour flavour, string label, int size, bool partitions,
        Func<ChaosRun, int, Task<ChaosFigures>> body)
    {
        output.WriteLine(TestSeed.Describe);
        var figures = new List<ChaosFigures>();
        for (var i = 0; i < Runs; i++)
        {
            var seed = unchecked(TestSeed.Value + i);
            using var run = new ChaosRun(size, seed, label, partitions, output, flavour);
            figures.Add(await body(run, seed));
            if (i == Runs - 1 && Runs > 1)
            {
                // A longer profile: the runs' figures added up, printed and saved beside the runs' own.
                var all = RunFigures.Combine(figures);
                output.WriteLine($"{Runs} runs, seeds {TestSeed.Value}..{seed}: " + run.Summary(all));
                output.WriteLine("figures saved to " + RunFigures.Save(ChaosRun.ResultsRoot(), label, flavour, TestSeed.Value, size, all, Runs));
            }
        }
        Assert.False(Firewall.ChainExists(), $"the {Firewall.Chain} chain outlived the run");
    }

    [Fact]
    public Task KillsOfAnyMemberTheLeaderAndAMajority() =>
        RunAsync("kills", 3, partitions: false, FaultKind.KillMember, FaultKind.KillLeader, FaultKind.KillMajority);

    [Fact]
    public Task APausedLeaderWakesUpStale() =>
        RunAsync("pause", 3, partitions: false, FaultKind.PauseLeader);

    [Fact]
    public Task PartitionsIsolatedLeaderMinorityAndBridge() =>
        RunAsync("partitions", 3, partitions: true, FaultKind.IsolateLeader, FaultKind.SplitMinority, FaultKind.Bridge);

    [Fact]
    public Task MixedFaultsOnThreeMembers() =>
        RunAsync("mixed3", 3, partitions: true, [.. Nemesis.ProcessAndNetworkFaults]);

    [Fact]
    public Task MixedFaultsOnFiveMembers() =>
        RunAsync("mixed5", 5, partitions: true, [.. Nemesis.ProcessAndNetworkFaults]);

    /// <summary>
    /// Learners added as new processes, promoted, followers and leaders removed, under load: the
    /// clients follow the member list; at the end every member holds the same data.
    /// </summary>
    [Fact]
    public Task MembershipChangesOnThreeMembers() =>
        RunAsync("membership3", 3, partitions: false, (run, seed) => run.RunAsync(Nemesis.MembershipSchedule(seed, Duration), Clients));

    [Fact]
    public Task MembershipChangesOnFiveMembers() =>
        RunAsync("membership5", 5, partitions: false, (run, seed) => run.RunAsync(Nemesis.MembershipSchedule(seed, Duration), Clients));

    /// <summary>Members restarted with every WAL append slowed before or after it (a slow fsync), then restarted without.</summary>
    [Fact]
    public Task SlowDiskBeforeAndAfterSave() =>
        RunAsync("slowdisk", 3, partitions: false, FaultKind.SlowDiskBeforeSave, FaultKind.SlowDiskAfterSave);

    /// <summary>
    /// The check is sharp: the same harness with clients whose "linearizable" reads are served
    /// locally by whichever member they ask reports the stale reads of a cut-off member.
    /// </summary>
    [Fact]
    public async Task StaleReadsFromACutOffMemberAreCaught()
    {
        output.WriteLine(TestSeed.Describe);
        using var run = new ChaosRun(3, TestSeed.Value, "broken-reads", partitions: true, output) { BrokenReads = true };
        var failure = await Assert.ThrowsAsync<Xunit.Sdk.FailException>(() =>
            run.RunAsync([FaultKind.IsolateLeader, FaultKind.SplitMinority], TimeSpan.FromSeconds(10), Clients));
        Assert.Contains("NOT linearizable", failure.Message);
    }

    [Fact]
    public async Task TheFirewallCutsExactlyTheBlockedPairAndLeavesNoRuleBehind()
    {
        string m1 = ChaosNet.Address(1), m2 = ChaosNet.Address(2), m3 = ChaosNet.Address(3);
        using var b = Listen(m2);
        using var c = Listen(m3);
        using (var firewall = new Firewall())
        {
            Assert.True(await ConnectsAsync(m1, b), $"{m1} -> {m2} before any rule");
            firewall.Block(m1, m2);
            Assert.False(await ConnectsAsync(m1, b), $"{m1} -> {m2} while blocked");
            Assert.True(await ConnectsAsync(m1, c), $"{m1} -> {m3} while only 1-2 is blocked");
            Assert.True(await ConnectsAsync("127.0.0.1", b), $"the test's own clients (127.0.0.1) still reach {m2}");
            firewall.Heal();
            Assert.True(await ConnectsAsync(m1, b), $"{m1} -> {m2} after healing");
            firewall.Block(m1, m2);
        }
        // Disposed with a rule in place: the chain and the jump to it are gone.
        Assert.False(Firewall.ChainExists(), Firewall.List());
    }

    /// <summary>
    /// A dialer that binds no address (as etcd's) leaves from 127.0.0.1, which no rule names; once
    /// the firewall gives its uid's connections a member's address, the member's cuts apply to it.
    /// </summary>
    [Fact]
    public async Task AnUnboundDialerIsCutOnceItsConnectionsGetItsMemberAddress()
    {
        string m1 = ChaosNet.Address(1), m2 = ChaosNet.Address(2), m3 = ChaosNet.Address(3);
        using var b = Listen(m2);
        using var c = Listen(m3);
        using (var firewall = new Firewall())
        {
            firewall.Block(m1, m2);
            Assert.True(await ConnectsAsync(null, b), $"an unbound dialer reaches {m2} while {m1} -> {m2} is blocked");
            firewall.SourceFrom(GetEuid(), m1);
            Assert.False(await ConnectsAsync(null, b), $"an unbound dialer with {m1}'s address -> {m2} while blocked");
            Assert.True(await ConnectsAsync(null, c), $"an unbound dialer with {m1}'s address -> {m3}, not blocked");
            firewall.Heal();
            Assert.True(await ConnectsAsync(null, b), $"an unbound dialer with {m1}'s address -> {m2} after healing");
        }
        Assert.False(Firewall.ChainExists(), Firewall.List());
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEuid();

    private static TcpListener Listen(string address)
    {
        var l = new TcpListener(IPAddress.Parse(address), 0);
        l.Start();
        return l;
    }

    /// <summary>Whether a connection from <paramref name="from"/> (no bind when null) to <paramref name="to"/> is accepted within 500 ms.</summary>
    private static async Task<bool> ConnectsAsync(string? from, TcpListener to)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (from is not null)
            s.Bind(new IPEndPoint(IPAddress.Parse(from), 0));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        try
        {
            await s.ConnectAsync((IPEndPoint)to.LocalEndpoint, cts.Token);
            return true;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException)
        {
            return false;
        }
    }
}
