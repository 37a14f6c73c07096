using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Raft.Shell.Tests.EndToEnd;
using Raft.Testing.Linearizability;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Chaos;

/// <summary>What one fault did: when it started and ended, and how long the election after it took.</summary>
internal sealed record FaultEvent(FaultStep Step, long Injected, long Healed, double? ElectionMs);

/// <summary>The figures of one run.</summary>
internal sealed record ChaosFigures(
    int OperationsChecked, int UnknownOutcomes, int AcknowledgedWrites, int AcknowledgedWritesLost, int RevisionRegressions,
    IReadOnlyDictionary<FaultKind, int> Faults, IReadOnlyDictionary<FaultKind, double> LongestWriteGapMs,
    IReadOnlyDictionary<FaultKind, double[]> ElectionMs);

/// <summary>
/// One chaos run: a cluster of <c>raft serve</c> (or etcd) processes on 127.0.1.x, concurrent clients on
/// random members recording a history, a seeded schedule of faults, then healing, final reads and
/// the linearizability check. Every process is killed and every iptables rule removed on dispose.
/// </summary>
internal sealed partial class ChaosRun : IDisposable
{
    private static readonly TimeSpan Election = ProcessCluster.ElectionTimeout;
    private const int KeyCount = 8;

    private readonly TempDir _dir = new();
    private readonly ITestOutputHelper _output;
    private ChaosLoad? _load;
    private readonly List<FaultEvent> _events = [];
    private readonly StringBuilder _log = new();
    private readonly Firewall? _firewall;
    private bool _artifactsWritten;
    private readonly string _token;
    private volatile ChaosMember[] _members = [];

    public ChaosRun(int size, int seed, string label, bool partitions, ITestOutputHelper output, MemberFlavour? flavour = null)
    {
        Assert.InRange(size, 3, 9);
        Flavour = flavour ?? MemberFlavour.Raft;
        Flavour.CheckInstalled();
        Seed = seed;
        Size = size;
        Label = label;
        _output = output;
        var token = "chaos-" + Guid.NewGuid().ToString("N")[..8];
        _token = token;
        for (var i = 1; i <= size; i++)
            Join(new ChaosMember(i, _dir.Sub($"m{i}"), token, Flavour));
        var initial = string.Join(",", Members.Select(m => $"{m.Name}={m.PeerUrl}"));
        foreach (var m in Members)
            m.InitialCluster = initial;
        _firewall = partitions ? new Firewall() : null;
        foreach (var m in Members)
            GiveDialerAddress(m);
    }

    /// <summary>A member whose program dials from no address of its own gets its address from the firewall (see <see cref="Firewall.SourceFrom"/>).</summary>
    private void GiveDialerAddress(ChaosMember m)
    {
        if (_firewall is not null && Flavour.Uid(m) is { } uid)
            _firewall.SourceFrom(uid, m.Address);
    }

    public int Seed { get; }

    /// <summary>The program every member runs.</summary>
    public MemberFlavour Flavour { get; }

    /// <summary>How many members the run starts with (membership changes come back to it).</summary>
    public int Size { get; }

    /// <summary>
    /// A deliberately broken client: its "linearizable" gets are sent as serializable reads (answered
    /// by the member alone, however stale) yet recorded as linearizable, to show that the check
    /// catches stale reads. No artifacts are written for such a run.
    /// </summary>
    public bool BrokenReads { get; init; }
    public string Label { get; }

    /// <summary>
    /// The current members, as one array replaced whole on every change (clients read it while the
    /// membership nemesis adds and removes members).
    /// </summary>
    public IReadOnlyList<ChaosMember> Members => _members;

    // The clients, final reads and ledger checks read the members list at each use, so they follow membership changes.
    private ChaosLoad Load => _load ??= new ChaosLoad(() => Members, "", KeyCount, Seed, Log) { BrokenReads = BrokenReads };
    private HistoryRecorder<KvInput, KvOutput> History => Load.History;

    private void Log(string line)
    {
        var stamped = $"[{TimeSpan.FromTicks(History.Now).TotalSeconds,7:0.000}s] {line}";
        lock (_log) _log.AppendLine(stamped);
        try
        {
            _output.WriteLine(stamped);
        }
        catch (InvalidOperationException)
        {
            // The test has ended (a late line from a background task).
        }
    }

    /// <summary>Runs the schedule under load, heals, checks; throws (after writing the artifacts) on any failure.</summary>
    public Task<ChaosFigures> RunAsync(IReadOnlyList<FaultKind> kinds, TimeSpan duration, int clients) =>
        RunAsync(Nemesis.Schedule(Seed, kinds, duration, Election), clients);

    /// <summary>Runs the given schedule under load, heals, checks; throws (after writing the artifacts) on any failure.</summary>
    public async Task<ChaosFigures> RunAsync(IReadOnlyList<FaultStep> schedule, int clients)
    {
        Log($"chaos run '{Label}' of {Flavour.Version}: {Members.Count} members, {clients} clients, {KeyCount} keys, seed {Seed} ({TestSeed.Variable}={Seed} replays it)");
        Log("schedule: " + string.Join(", ", schedule));
        try
        {
            foreach (var m in Members)
                m.Launch();
            foreach (var m in Members)
                await m.WaitStartedAsync(TimeSpan.FromSeconds(60));
            await FindLeaderAsync(TimeSpan.FromSeconds(30));

            Load.Start(clients);
            await Task.Delay(Election);
            foreach (var step in schedule)
                await InjectAsync(step);
            await Load.StopAsync();
            var clientsEnd = History.Now;

            await HealAllAsync();
            await FindLeaderAsync(TimeSpan.FromSeconds(30));
            await Load.FinalReadsAsync(clients, Diagnostics);
            var lost = await Load.LostWritesAsync(Diagnostics);
            Log($"ledger: {Load.Ledger.Count} acknowledged unique puts, {lost.Count} lost");
            await SameDataEverywhereAsync();

            var ops = History.Operations;
            var result = LinearizabilityChecker.Check(KvModel.Instance, ops,
                new CheckOptions { Timeout = TimeSpan.FromSeconds(120), DescribeTime = TimeFormats.TimeSpanTicks });
            var figures = Figures(result, lost.Count, clientsEnd);
            Log(result.Describe().TrimEnd());
            Log(Summary(figures));
            if (!BrokenReads)
                Log($"figures saved to {RunFigures.Save(ResultsRoot(), Label, Flavour, Seed, Size, figures, schedule: schedule)}");
            if (!result.IsLinearizable || lost.Count > 0 || !Load.RevisionRegressions.IsEmpty)
            {
                var why = new StringBuilder();
                if (!result.IsLinearizable) why.AppendLine(result.Describe());
                if (lost.Count > 0) why.AppendLine($"acknowledged writes lost: {string.Join(", ", lost.Take(20))}");
                foreach (var r in Load.RevisionRegressions.Take(20)) why.AppendLine($"revision went back: {r}");
                var dir = WriteArtifacts(why.ToString(), ops);
                _artifactsWritten = true;
                Assert.Fail($"chaos run '{Label}' failed, seed {Seed} ({TestSeed.Variable}={Seed} replays it); history and logs in {dir}\n{why}");
            }
            if (Environment.GetEnvironmentVariable("RAFT_CHAOS_KEEP") == "1")
                Log("history and logs kept (RAFT_CHAOS_KEEP=1) in " + WriteArtifacts("passed\n", ops));
            return figures;
        }
        catch (Exception ex) when (!_artifactsWritten)
        {
            var dir = WriteArtifacts(ex.ToString(), History.Operations);
            Log($"run failed: {ex.Message}; history and logs in {dir}");
            throw;
        }
    }

    private async Task InjectAsync(FaultStep step)
    {
        var leader = await FindLeaderAsync(TimeSpan.FromSeconds(30));
        if (IsProcessNemesis(step.Kind))
        {
            await InjectProcessFaultAsync(step, leader);
            return;
        }
        var n = Members.Count;
        var shuffled = Nemesis.Shuffle(Members, step.Pick);
        var t0 = History.Now;
        Task<double?>? election = null;
        List<ChaosMember> killed = [];
        ChaosMember? paused = null;
        string what;
        switch (step.Kind)
        {
            case FaultKind.KillMember:
                killed.Add(Members[step.Pick % n]);
                what = $"SIGKILL {killed[0]}";
                break;
            case FaultKind.KillLeader:
                killed.Add(leader);
                what = $"SIGKILL the leader {leader}";
                break;
            case FaultKind.KillMajority:
                killed.AddRange(shuffled.Take(n / 2 + 1));
                what = $"SIGKILL a majority: {string.Join(", ", killed)}";
                break;
            case FaultKind.PauseLeader:
                paused = leader;
                what = $"SIGSTOP the leader {leader}";
                break;
            case FaultKind.IsolateLeader:
                what = $"isolate the leader {leader}";
                break;
            case FaultKind.SplitMinority:
                what = $"cut {string.Join(", ", shuffled.Take(n / 2))} from {string.Join(", ", shuffled.Skip(n / 2))}";
                break;
            case FaultKind.Bridge:
                var rest = shuffled.Skip(1).ToList();
                what = $"bridge {shuffled[0]} between {string.Join(", ", rest.Take(rest.Count / 2))} and {string.Join(", ", rest.Skip(rest.Count / 2))}";
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(step), step.Kind, null);
        }
        Log($"fault {step.Kind}: {what}");
        t0 = History.Now;
        switch (step.Kind)
        {
            case FaultKind.KillMember or FaultKind.KillLeader or FaultKind.KillMajority:
                foreach (var m in killed) m.Kill();
                break;
            case FaultKind.PauseLeader:
                paused!.Pause();
                break;
            case FaultKind.IsolateLeader:
                _firewall!.Split([leader.Address], Members.Where(m => m != leader).Select(m => m.Address));
                break;
            case FaultKind.SplitMinority:
                _firewall!.Split(shuffled.Take(n / 2).Select(m => m.Address), shuffled.Skip(n / 2).Select(m => m.Address));
                break;
            case FaultKind.Bridge:
                var rest = shuffled.Skip(1).ToList();
                _firewall!.Split(rest.Take(rest.Count / 2).Select(m => m.Address), rest.Skip(rest.Count / 2).Select(m => m.Address));
                break;
        }
        if (step.Kind is FaultKind.KillLeader or FaultKind.PauseLeader or FaultKind.IsolateLeader)
            election = MeasureElectionAsync(leader, Members.Where(m => m != leader).ToArray(), t0);

        await Task.Delay(step.Hold);
        double? electionMs = election is null ? null : await election;
        if (election is not null)
        {
            Log(electionMs is { } ms ? $"new leader elected {ms:0} ms after the fault" : "NO new leader was elected during the fault");
            Assert.True(electionMs is not null, $"no new leader within 20 s after {step}");
        }

        // Heal.
        switch (step.Kind)
        {
            case FaultKind.KillMember or FaultKind.KillLeader or FaultKind.KillMajority:
                foreach (var m in killed) m.Launch();
                foreach (var m in killed) await m.WaitStartedAsync(TimeSpan.FromSeconds(60));
                break;
            case FaultKind.PauseLeader:
                paused!.Resume();
                break;
            default:
                _firewall!.Heal();
                break;
        }
        var healed = History.Now;
        Log($"healed {step.Kind}");
        lock (_events) _events.Add(new FaultEvent(step, t0, healed, electionMs));
        await Task.Delay(step.Quiet);
    }

    /// <summary>
    /// Waits until some member other than <paramref name="old"/> says it is the leader; the time
    /// from <paramref name="t0"/> (recorder ticks) in ms, or null after 20 s.
    /// </summary>
    private async Task<double?> MeasureElectionAsync(ChaosMember old, ChaosMember[] candidates, long t0)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            var polls = candidates.Where(m => m.IsServing).Select(async m => (m, s: await m.Client.StatusAsync())).ToArray();
            foreach (var (m, s) in await Task.WhenAll(polls))
                if (s is not null && s.Leader == m.Id && m != old)
                    return TimeSpan.FromTicks(History.Now - t0).TotalMilliseconds;
            await Task.Delay(20);
        }
        return null;
    }

    /// <summary>A member that says it is the leader and that a majority of members name as leader.</summary>
    private Task<ChaosMember> FindLeaderAsync(TimeSpan timeout) => ChaosMember.FindLeaderAsync(Members, timeout, Diagnostics);

    private async Task HealAllAsync()
    {
        _firewall?.Heal();
        await PromoteLearnersAsync();
        await ChaosMember.HealAllAsync(Members);
        Log("all healed");
    }

    private ChaosFigures Figures(CheckResult<KvInput, KvOutput> result, int lost, long clientsEnd)
    {
        var ops = History.Operations;
        var writes = Load.WriteTimes;
        FaultEvent[] events;
        lock (_events) events = [.. _events.OrderBy(e => e.Injected)];
        var gaps = new Dictionary<FaultKind, double>();
        for (var i = 0; i < events.Length; i++)
        {
            var start = events[i].Injected;
            var end = i + 1 < events.Length ? events[i + 1].Injected : clientsEnd;
            var prev = start;
            long longest = 0;
            foreach (var w in writes.Where(w => w > start && w <= end).Append(end))
            {
                longest = Math.Max(longest, w - prev);
                prev = w;
            }
            var kind = events[i].Step.Kind;
            gaps[kind] = Math.Max(gaps.GetValueOrDefault(kind), TimeSpan.FromTicks(longest).TotalMilliseconds);
        }
        return new ChaosFigures(
            result.OperationCount, ops.Count(o => o.OutcomeUnknown), Load.Ledger.Count + ops.Count(o => !o.Input.IsRead && !o.OutcomeUnknown),
            lost, Load.RevisionRegressions.Count,
            events.GroupBy(e => e.Step.Kind).ToDictionary(g => g.Key, g => g.Count()),
            gaps,
            events.Where(e => e.ElectionMs is not null).GroupBy(e => e.Step.Kind).ToDictionary(g => g.Key, g => g.Select(e => e.ElectionMs!.Value).Order().ToArray()));
    }

    public string Summary(ChaosFigures f)
    {
        var ic = CultureInfo.InvariantCulture;
        string Kinds<T>(IReadOnlyDictionary<FaultKind, T> d, Func<T, string> show) =>
            string.Join(", ", d.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} {show(kv.Value)}"));
        return string.Create(ic,
            $"chaos summary '{Label}' ({Flavour}): seed {Seed}, {Size} members; operations checked {f.OperationsChecked} ({f.UnknownOutcomes} with unknown outcome); " +
            $"acknowledged writes {f.AcknowledgedWrites}, lost {f.AcknowledgedWritesLost}; revision regressions {f.RevisionRegressions}; " +
            $"faults: {Kinds(f.Faults, n => n.ToString(ic))}; longest window without a successful write: {Kinds(f.LongestWriteGapMs, ms => ms.ToString("0", ic) + " ms")}; " +
            $"election after the leader's fault (median/p99/max): {Kinds(f.ElectionMs, a => $"{Median(a).ToString("0", ic)}/{RunFigures.Percentile(a, 0.99).ToString("0", ic)}/{a.Max().ToString("0", ic)} ms")}");
    }

    public static double Median(double[] sorted) =>
        sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;

    private string Diagnostics() =>
        ChaosMember.Diagnostics(Members) + (_firewall is null ? "" : "\n--- iptables:\n" + Firewall.List());

    /// <summary>
    /// Where failing runs keep their history and logs: RAFT_CHAOS_RESULTS when set, else TestResults
    /// beside the repository root (the directory with Raft.sln above the working directory).
    /// </summary>
    public static string ResultsRoot()
    {
        if (Environment.GetEnvironmentVariable("RAFT_CHAOS_RESULTS") is { Length: > 0 } set)
            return set;
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Raft.sln")))
                    return Path.Combine(d.FullName, "TestResults");
        return Path.Combine(Directory.GetCurrentDirectory(), "TestResults");
    }

    private string WriteArtifacts(string report, IReadOnlyList<Operation<KvInput, KvOutput>> ops)
    {
        if (BrokenReads)
            return "(none: a deliberately broken run)";
        string log;
        lock (_log) log = _log.ToString();
        // Removed members' logs too: a removal is where a membership run most likely went wrong.
        return Load.WriteArtifacts($"{Seed}-{Label}-{Flavour.Name}", report, log, EveryMember);
    }

    public void Dispose()
    {
        foreach (var m in EveryMember)
            m.Dispose();
        _firewall?.Dispose();
        _dir.Dispose();
    }
}
