using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Raft.Interop;
using Raft.Shell.Node;
using Raft.Shell.Tests.Node;

namespace Raft.Shell.Tests.PowerLoss;

/// <summary>What a power-loss run is made of.</summary>
/// <param name="Members">1 or more; every member loses power at each cut.</param>
/// <param name="Cycles">Power cuts (each followed by a reboot and a check).</param>
/// <param name="NoFsync">Run the members with --unsafe-no-fsync.</param>
/// <param name="SegmentSize">WAL segment size (small: segments are cut often).</param>
/// <param name="IgnoreWalDirFsync">After the first start, the disks ignore fsyncs of the WAL directory: a WAL that does not make its new segments' names durable.</param>
/// <param name="StopAtFirstLoss">End the run at the first check that finds a loss.</param>
/// <param name="OneAtATime">Each cut takes one member's power only; the others keep taking writes while it is down.</param>
internal sealed record PowerLossSettings(
    int Members,
    int Cycles,
    bool NoFsync = false,
    long SegmentSize = 32 * 1024,
    bool IgnoreWalDirFsync = false,
    bool StopAtFirstLoss = false,
    bool OneAtATime = false);

/// <summary>What a power-loss run saw.</summary>
internal sealed class PowerLossResult
{
    public int Cuts;
    public int CutsDuringSnapshot;
    public int TornCuts;
    public int CutsKeepingASectorAfterALostOne;
    public int Acknowledged;
    public int Checks;
    public long AcknowledgedChecked;
    public int Lost;
    public int RestartFailures;
    public int Divergent;
    public int SnapshotsReceived;
    public int DirectoryFsyncsIgnored;
    public int Snapshots;
    public List<string> Problems { get; } = [];

    public bool LostAnything => Lost > 0 || RestartFailures > 0;

    public override string ToString() =>
        $"{Cuts} power cuts ({CutsDuringSnapshot} while a snap file was written, {TornCuts} torn, {CutsKeepingASectorAfterALostOne} keeping a sector after a lost one), " +
        $"{Acknowledged} acknowledged writes, {Checks} checks covering {AcknowledgedChecked} acknowledged writes, highest snapshot index {Snapshots}, " +
        $"lost {Lost}, restart failures {RestartFailures}, divergent members {Divergent}, snapshots received by a rebooted member {SnapshotsReceived}";
}

/// <summary>
/// Members in this process with the real WAL, snapshotter, runner and apply loop on simulated disks
/// and TCP on loopback: clients propose from several tasks, the power of every member is cut at a
/// seeded moment (after a delay, at the n-th WAL fsync, or while a snap file is written), every
/// member boots from what its disk kept, and every acknowledged proposal must be in the state
/// machines of all members.
/// </summary>
internal sealed class PowerLossRun : IAsyncDisposable
{
    private const int Clients = 4;
    private readonly PowerLossSettings settings;
    private readonly Random random;
    private readonly Action<string> log;
    private readonly TempDir dir = new();
    private readonly string[] names;
    private readonly Dictionary<string, int> ports = new();
    private readonly Dictionary<string, SimDisk> disks = new();
    private readonly Dictionary<string, RaftNode> nodes = new();
    private readonly Dictionary<string, ListStateMachine> machines = new();
    private readonly HashSet<string> acked = [];
    private readonly PowerLossResult result = new();
    private IReadOnlyList<string> rebooted = [];
    private readonly Dictionary<string, int> restoresAtBoot = new();

    public PowerLossRun(PowerLossSettings settings, Random random, Action<string> log)
    {
        this.settings = settings;
        this.random = random;
        this.log = log;
        names = Enumerable.Range(1, settings.Members).Select(i => $"m{i}").ToArray();
        foreach (var n in names)
        {
            ports[n] = NodeCluster.FreePort();
            disks[n] = new SimDisk(dir.Sub(n));
        }
    }

    private string InitialCluster => string.Join(",", names.Select(n => $"{n}={NodeCluster.Url(ports[n])}"));

    private RaftNodeOptions Options(string name) => new()
    {
        Name = name,
        DataDir = dir.Sub(name),
        ListenPeerUrls = NodeCluster.Url(ports[name]),
        InitialAdvertisePeerUrls = NodeCluster.Url(ports[name]),
        InitialCluster = InitialCluster,
        HeartbeatIntervalMs = 20,
        ElectionTimeoutMs = 200,
        SnapshotCount = 40,
        SnapshotCatchUpEntries = 10,
        MaxWalFiles = 2,
        MaxSnapFiles = 2,
        UnsafeNoFsync = settings.NoFsync,
        ConfigureStorage = w =>
        {
            w.FileSystem = disks[name];
            w.SegmentSizeBytes = settings.SegmentSize;
        },
    };

    public async Task<PowerLossResult> RunAsync()
    {
        for (var cycle = 0; ; cycle++)
        {
            if (!await BootAsync(cycle)) break;
            if (cycle > 0 && !await CheckAsync(cycle)) break;
            if (cycle == settings.Cycles) break;
            if (settings.StopAtFirstLoss && result.LostAnything) break;
            await LoadAndCutAsync(cycle);
        }
        return result;
    }

    private async Task<bool> BootAsync(int cycle)
    {
        List<string> down;
        lock (nodes) down = names.Where(n => !nodes.ContainsKey(n)).ToList();
        var started = await Task.WhenAll(down.Select(async n =>
        {
            var sm = new ListStateMachine();
            try
            {
                var node = await RaftNode.StartAsync(Options(n), sm);
                lock (nodes)
                {
                    nodes[n] = node;
                    machines[n] = sm;
                    restoresAtBoot[n] = sm.Restores;
                }
                return null;
            }
            catch (NodeStartException ex)
            {
                return $"{n}: {ex.Message}";
            }
        }));
        var failed = started.OfType<string>().ToList();
        if (failed.Count > 0)
        {
            // The cluster does not come back: none of the acknowledged writes can be read.
            result.RestartFailures += failed.Count;
            result.Lost += acked.Count;
            result.Problems.Add($"cycle {cycle}: restart failed, so {acked.Count} acknowledged writes are unavailable: {string.Join("; ", failed)}");
            return false;
        }
        foreach (var n in names) disks[n].FileSyncLatency = TimeSpan.FromMilliseconds(1);
        if (settings.IgnoreWalDirFsync)
            foreach (var n in names)
            {
                var walDir = Path.GetFullPath(Raft.Shell.Storage.NodeStorage.WalDir(dir.Sub(n)));
                disks[n].IgnoreDirectoryFsync = p => p == walDir;
            }
        return true;
    }

    // After a reboot: a marker proposed through the cluster and applied everywhere orders every
    // earlier committed entry before it; every acknowledged write must then be in every machine.
    private async Task<bool> CheckAsync(int cycle)
    {
        var marker = $"check-{cycle}";
        var deadline = Stopwatch.StartNew();
        var proposed = false;
        while (!proposed && deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            try
            {
                await nodes[names[random.Next(names.Length)]].ProposeAsync(Encoding.UTF8.GetBytes(marker));
                proposed = true;
            }
            catch (RaftException)
            {
                await Task.Delay(20);
            }
        }
        if (!proposed)
        {
            result.Problems.Add($"cycle {cycle}: no marker committed within 20 s, so {acked.Count} acknowledged writes are unavailable");
            result.RestartFailures++;
            result.Lost += acked.Count;
            return false;
        }
        try
        {
            await SingleNodeTests.WaitUntil(() => names.All(n => machines[n].Items.Contains(marker)), 20_000);
        }
        catch (TimeoutException)
        {
            result.Problems.Add($"cycle {cycle}: the marker was not applied on every member, so {acked.Count} acknowledged writes are unavailable");
            result.RestartFailures++;
            result.Lost += acked.Count;
            return false;
        }
        var views = names.ToDictionary(n => n, n =>
        {
            var items = machines[n].Items;
            return items.Take(items.ToList().IndexOf(marker) + 1).ToArray();
        });
        var reference = views[names[0]];
        foreach (var n in names.Skip(1))
            if (!views[n].SequenceEqual(reference))
            {
                result.Divergent++;
                result.Problems.Add($"cycle {cycle}: {n} applied another sequence than {names[0]}");
            }
        // A restore after the start came with a snapshot from the leader.
        result.SnapshotsReceived += rebooted.Count(n => machines[n].Restores > restoresAtBoot[n]);
        var present = reference.ToHashSet();
        var missing = acked.Where(v => !present.Contains(v)).ToList();
        result.Checks++;
        result.AcknowledgedChecked += acked.Count;
        if (missing.Count > 0)
        {
            result.Lost += missing.Count;
            result.Problems.Add($"cycle {cycle}: {missing.Count} of {acked.Count} acknowledged writes lost, e.g. {string.Join(", ", missing.Take(5).Select(m => m.Split('-')[..3]).Select(p => string.Join("-", p)))}");
            // Counted once: later checks look at what is still there.
            foreach (var m in missing) acked.Remove(m);
        }
        result.Snapshots = Math.Max(result.Snapshots, (int)nodes.Values.Max(n => n.Status.SnapshotIndex));
        return true;
    }

    private async Task LoadAndCutAsync(int cycle)
    {
        var newlyAcked = new ConcurrentBag<string>();
        using var stopClients = new CancellationTokenSource();
        var clientSeeds = Enumerable.Range(0, Clients).Select(_ => random.Next()).ToArray();
        var clients = Enumerable.Range(0, Clients).Select(c => Task.Run(async () =>
        {
            var r = new Random(clientSeeds[c]);
            for (var seq = 0; !stopClients.IsCancellationRequested; seq++)
            {
                // Sizes from a few bytes to several sectors, so that one save spans several pages.
                var value = $"v{cycle}-{c}-{seq}-" + new string('x', r.Next(2) == 0 ? r.Next(0, 64) : r.Next(0, 3000));
                RaftNode node;
                lock (nodes) node = nodes[names[r.Next(names.Length)]];
                try
                {
                    await node.ProposeAsync(Encoding.UTF8.GetBytes(value), stopClients.Token);
                    newlyAcked.Add(value);
                }
                catch (Exception ex) when (ex is RaftException or OperationCanceledException)
                {
                    // Outcome unknown: it may or may not be there after the cut.
                    if (!stopClients.IsCancellationRequested) await Task.Delay(5);
                }
            }
        })).ToArray();

        // Where the power goes: after a while; at the n-th file sync of one member's disk (most
        // often a WAL fdatasync); or at a write to a snap file.
        var mode = random.Next(10) < 7 ? CutMode.Tear : CutMode.DropAll;
        var kind = random.Next(3);
        var victim = names[random.Next(names.Length)];
        var delay = random.Next(50, 600);
        var syncs = random.Next(5, 300);
        var cutSeeds = names.ToDictionary(n => n, _ => random.Next());
        // Some writes are acknowledged before the power can go, so that every cut has something to lose.
        var armed = Stopwatch.StartNew();
        while (newlyAcked.Count < 10 && armed.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(5);
        var cutWhat = kind switch { 0 => $"after {delay} ms", 1 => $"at the {syncs}th file sync of {victim}", _ => $"while {victim} writes a snap file" };
        if (kind == 1)
        {
            var left = syncs;
            disks[victim].CutWhen(op => op.Kind == SimOpKind.SyncFile && --left == 0, mode, new Random(cutSeeds[victim]));
        }
        else if (kind == 2)
        {
            disks[victim].CutWhen(op => op.Kind == SimOpKind.Write && op.Path.EndsWith(".snap", StringComparison.Ordinal), mode, new Random(cutSeeds[victim]));
        }
        var timer = Task.Delay(kind == 0 ? delay : 3000);
        if (kind != 0)
            await Task.WhenAny(timer, disks[victim].Triggered.Task);
        else
            await timer;
        var triggered = kind != 0 && disks[victim].Triggered.Task.IsCompleted;
        if (kind == 2 && triggered) result.CutsDuringSnapshot++;
        // The whole cluster loses power (every disk as of now), or only the victim.
        string[] cut = settings.OneAtATime ? [victim] : names;
        var after = cut.ToDictionary(n => n, n => disks[n].PowerCut(mode, new Random(cutSeeds[n])));
        result.Cuts++;
        if (mode == CutMode.Tear) result.TornCuts++;
        if (cut.Any(n => disks[n].CutStats.FilesLosingASectorBeforeAKeptOne > 0)) result.CutsKeepingASectorAfterALostOne++;
        result.DirectoryFsyncsIgnored += cut.Sum(n => disks[n].Syncs.DirSyncsIgnored);

        if (settings.OneAtATime)
        {
            // The others go on without it, far enough that it may need a snapshot to catch up.
            await nodes[victim].DisposeAsync();
            await Task.Delay(random.Next(100, 600));
        }
        stopClients.Cancel();
        await Task.WhenAll(cut.Select(n => nodes[n].DisposeAsync().AsTask()));
        await Task.WhenAll(clients);
        foreach (var v in newlyAcked) acked.Add(v);
        result.Acknowledged += newlyAcked.Count;
        log($"cycle {cycle}: power cut{(settings.OneAtATime ? $" of {victim} only," : "")} {cutWhat}{(kind != 0 && !triggered ? " (not reached: cut after 3 s)" : "")}, {mode}; {newlyAcked.Count} acknowledged, " +
            $"dropped {cut.Sum(n => disks[n].CutStats.Dropped)} unsynced bytes, kept {cut.Sum(n => disks[n].CutStats.Kept)}");
        foreach (var n in cut) disks[n] = after[n];
        lock (nodes)
            foreach (var n in cut) nodes.Remove(n);
        rebooted = cut;
    }

    public async ValueTask DisposeAsync()
    {
        RaftNode[] all;
        lock (nodes) all = nodes.Values.ToArray();
        await Task.WhenAll(all.Select(n => n.DisposeAsync().AsTask()));
        dir.Dispose();
    }
}
