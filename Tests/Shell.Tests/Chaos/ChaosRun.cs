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
/// One chaos run: a cluster of <c>raft serve</c> processes on 127.0.1.x, concurrent clients on
/// random members recording a history, a seeded schedule of faults, then healing, final reads and
/// the linearizability check. Every process is killed and every iptables rule removed on dispose.
/// </summary>
internal sealed partial class ChaosRun : IDisposable
{
    private static readonly TimeSpan Election = ProcessCluster.ElectionTimeout;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(2);
    private const int KeyCount = 8;

    private readonly TempDir _dir = new();
    private readonly ITestOutputHelper _output;
    private readonly HistoryRecorder<KvInput, KvOutput> _history = new();
    private readonly ConcurrentDictionary<string, string> _ledger = new(StringComparer.Ordinal);
    private readonly ConcurrentBag<long> _writeTimes = [];
    private readonly ConcurrentQueue<string> _revisionRegressions = new();
    private readonly List<FaultEvent> _events = [];
    private readonly StringBuilder _log = new();
    private readonly Firewall? _firewall;
    private bool _artifactsWritten;
    private readonly string _token;
    private volatile ChaosMember[] _members = [];

    public ChaosRun(int size, int seed, string label, bool partitions, ITestOutputHelper output)
    {
        Assert.InRange(size, 3, 9);
        Seed = seed;
        Size = size;
        Label = label;
        _output = output;
        var token = "chaos-" + Guid.NewGuid().ToString("N")[..8];
        _token = token;
        for (var i = 1; i <= size; i++)
            Join(new ChaosMember(i, _dir.Sub($"m{i}"), token));
        var initial = string.Join(",", Members.Select(m => $"{m.Name}={m.PeerUrl}"));
        foreach (var m in Members)
            m.InitialCluster = initial;
        _firewall = partitions ? new Firewall() : null;
    }

    public int Seed { get; }

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

    private string[] Keys { get; } = Enumerable.Range(0, KeyCount).Select(i => $"k{i}").ToArray();

    private void Log(string line)
    {
        var stamped = $"[{TimeSpan.FromTicks(_history.Now).TotalSeconds,7:0.000}s] {line}";
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
        Log($"chaos run '{Label}': {Members.Count} members, {clients} clients, {KeyCount} keys, seed {Seed} ({TestSeed.Variable}={Seed} replays it)");
        Log("schedule: " + string.Join(", ", schedule));
        try
        {
            foreach (var m in Members)
                m.Launch();
            foreach (var m in Members)
                await m.WaitStartedAsync(TimeSpan.FromSeconds(60));
            await FindLeaderAsync(TimeSpan.FromSeconds(30));

            using var stop = new CancellationTokenSource();
            var workers = Enumerable.Range(0, clients).Select(c => Task.Run(() => ClientLoopAsync(c, stop.Token))).ToArray();
            await Task.Delay(Election);
            foreach (var step in schedule)
                await InjectAsync(step);
            stop.Cancel();
            await Task.WhenAll(workers);
            var clientsEnd = _history.Now;

            await HealAllAsync();
            await FindLeaderAsync(TimeSpan.FromSeconds(30));
            await FinalReadsAsync(clients);
            var lost = await LostWritesAsync();
            await SameDataEverywhereAsync();

            var ops = _history.Operations;
            var result = LinearizabilityChecker.Check(KvModel.Instance, ops,
                new CheckOptions { Timeout = TimeSpan.FromSeconds(120), DescribeTime = TimeFormats.TimeSpanTicks });
            var figures = Figures(result, lost.Count, clientsEnd);
            Log(result.Describe().TrimEnd());
            Log(Summary(figures));
            Log($"figures saved to {RunFigures.Save(ResultsRoot(), Label, Seed, Size, figures)}");
            if (!result.IsLinearizable || lost.Count > 0 || !_revisionRegressions.IsEmpty)
            {
                var why = new StringBuilder();
                if (!result.IsLinearizable) why.AppendLine(result.Describe());
                if (lost.Count > 0) why.AppendLine($"acknowledged writes lost: {string.Join(", ", lost.Take(20))}");
                foreach (var r in _revisionRegressions.Take(20)) why.AppendLine($"revision went back: {r}");
                var dir = WriteArtifacts(why.ToString(), ops);
                _artifactsWritten = true;
                Assert.Fail($"chaos run '{Label}' failed, seed {Seed} ({TestSeed.Variable}={Seed} replays it); history and logs in {dir}\n{why}");
            }
            return figures;
        }
        catch (Exception ex) when (!_artifactsWritten)
        {
            var dir = WriteArtifacts(ex.ToString(), _history.Operations);
            Log($"run failed: {ex.Message}; history and logs in {dir}");
            throw;
        }
    }

    private async Task ClientLoopAsync(int c, CancellationToken stop)
    {
        var rng = new Random(unchecked(Seed * 7919 + c));
        using var client = new ChaosClient(RequestTimeout);
        var maxRevision = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var seq = 0; !stop.IsCancellationRequested; seq++)
        {
            var serving = Members.Where(m => m.IsRunning).ToArray();
            if (serving.Length == 0)
            {
                await Task.Delay(50);
                continue;
            }
            var m = serving[rng.Next(serving.Length)];
            var key = Keys[rng.Next(Keys.Length)];
            var dice = rng.NextDouble();
            bool ok;
            if (dice < 0.35)
            {
                var value = $"c{c}.{seq}";
                var pending = _history.Begin(c, KvInput.Put(key, value));
                var (d, reply) = await client.PutAsync(m.ClientUrl, key, value);
                ok = EndWrite(pending, d, reply);
                Check(c, m, reply, $"put({key})");
            }
            else if (dice < 0.45)
            {
                var pending = _history.Begin(c, KvInput.Delete(key));
                var (d, reply) = await client.DeleteAsync(m.ClientUrl, key);
                ok = EndWrite(pending, d, reply);
                Check(c, m, reply, $"delete({key})");
            }
            else if (dice < 0.75)
            {
                var pending = _history.Begin(c, KvInput.Get(key));
                var (_, reply) = await client.GetAsync(m.ClientUrl, key, serializable: BrokenReads);
                ok = reply is { Ok: true };
                if (ok)
                    pending.Complete(KvOutput.Read(GatewayClient.Kvs(reply!).GetValueOrDefault(key)));
                else
                    pending.Discard();
                Check(c, m, reply, $"get({key})");
            }
            else if (dice < 0.88)
            {
                // Serializable: not linearizable, so not in the history; only its revision is checked.
                var (_, reply) = await client.GetAsync(m.ClientUrl, key, serializable: true);
                ok = reply is { Ok: true };
                Check(c, m, reply, $"serializable get({key})");
            }
            else
            {
                // A unique key, never overwritten: an acknowledged one must be there at the end.
                var ledgerKey = $"ledger/c{c}.{seq}";
                var (_, reply) = await client.PutAsync(m.ClientUrl, ledgerKey, ledgerKey);
                ok = reply is { Ok: true };
                if (ok)
                {
                    _ledger[ledgerKey] = ledgerKey;
                    _writeTimes.Add(_history.Now);
                }
                Check(c, m, reply, $"put({ledgerKey})");
            }
            if (!ok)
                await Task.Delay(50);
        }

        void Check(int client, ChaosMember member, Reply? reply, string what)
        {
            if (reply is not { Ok: true } || ChaosClient.Revision(reply) is not { } rev)
                return;
            if (maxRevision.TryGetValue(member.Name, out var max) && rev < max)
            {
                var line = $"client {client} of {member.Name} (life {member.Lives}): {what} answered revision {rev} after {max}";
                _revisionRegressions.Enqueue(line);
                Log("REVISION WENT BACK: " + line);
            }
            maxRevision[member.Name] = Math.Max(max, rev);
        }
    }

    private bool EndWrite(PendingOperation<KvInput, KvOutput> pending, Delivery d, Reply? reply)
    {
        if (reply is { Ok: true })
        {
            pending.Complete(KvOutput.Done);
            _writeTimes.Add(_history.Now);
            return true;
        }
        // Refused connections never reached a member; anything else may still be applied.
        if (d == Delivery.NotSent) pending.Discard();
        else pending.CompleteUnknown(KvOutput.Unknown);
        return false;
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
        var t0 = _history.Now;
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
        t0 = _history.Now;
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
        var healed = _history.Now;
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
                    return TimeSpan.FromTicks(_history.Now - t0).TotalMilliseconds;
            await Task.Delay(20);
        }
        return null;
    }

    /// <summary>A member that says it is the leader and that a majority of members name as leader.</summary>
    private async Task<ChaosMember> FindLeaderAsync(TimeSpan timeout)
    {
        return await Wait.ForAsync("a leader a majority agrees on", timeout, async () =>
        {
            var statuses = await Task.WhenAll(Members.Where(m => m.IsServing).Select(async m => (m, s: await m.Client.StatusAsync())));
            foreach (var (m, s) in statuses)
            {
                if (s is null || s.Leader != m.Id) continue;
                if (statuses.Count(x => x.s?.Leader == m.Id) > Members.Count / 2)
                    return m;
            }
            return null;
        }, Diagnostics);
    }

    private async Task HealAllAsync()
    {
        _firewall?.Heal();
        await PromoteLearnersAsync();
        var launched = new List<ChaosMember>();
        foreach (var m in Members)
        {
            m.Resume();
            if (m.IsRunning) continue;
            m.Launch();
            launched.Add(m);
        }
        foreach (var m in launched)
            await m.WaitStartedAsync(TimeSpan.FromSeconds(60));
        Log("all healed");
    }

    /// <summary>A linearizable read of every key, recorded, so the check covers the final state too.</summary>
    private async Task FinalReadsAsync(int clients)
    {
        using var client = new ChaosClient(RequestTimeout);
        var i = 0;
        foreach (var key in Keys)
        {
            await Wait.UntilAsync($"a final read of {key}", TimeSpan.FromSeconds(30), async () =>
            {
                var m = Members[i++ % Members.Count];
                var pending = _history.Begin(clients, KvInput.Get(key));
                var (_, reply) = await client.GetAsync(m.ClientUrl, key, serializable: false);
                if (reply is not { Ok: true })
                {
                    pending.Discard();
                    return false;
                }
                pending.Complete(KvOutput.Read(GatewayClient.Kvs(reply).GetValueOrDefault(key)));
                return true;
            }, Diagnostics);
        }
    }

    /// <summary>Acknowledged ledger puts missing from (or different in) any member's linearizable read.</summary>
    private async Task<List<string>> LostWritesAsync()
    {
        var lost = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var m in Members)
        {
            var present = await Wait.ForAsync($"a linearizable read of the ledger on {m.Name}", TimeSpan.FromSeconds(30),
                () => m.Client.PrefixAsync("ledger/"), Diagnostics);
            foreach (var key in PutLoad.Lost(_ledger, present))
                lost.Add($"{key} (missing on {m.Name})");
        }
        Log($"ledger: {_ledger.Count} acknowledged unique puts, {lost.Count} lost");
        return [.. lost];
    }

    private ChaosFigures Figures(CheckResult<KvInput, KvOutput> result, int lost, long clientsEnd)
    {
        var ops = _history.Operations;
        var writes = _writeTimes.Order().ToArray();
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
            result.OperationCount, ops.Count(o => o.OutcomeUnknown), _ledger.Count + ops.Count(o => !o.Input.IsRead && !o.OutcomeUnknown),
            lost, _revisionRegressions.Count,
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
            $"chaos summary '{Label}': seed {Seed}, {Size} members; operations checked {f.OperationsChecked} ({f.UnknownOutcomes} with unknown outcome); " +
            $"acknowledged writes {f.AcknowledgedWrites}, lost {f.AcknowledgedWritesLost}; revision regressions {f.RevisionRegressions}; " +
            $"faults: {Kinds(f.Faults, n => n.ToString(ic))}; longest window without a successful write: {Kinds(f.LongestWriteGapMs, ms => ms.ToString("0", ic) + " ms")}; " +
            $"election after the leader's fault (median/p99/max): {Kinds(f.ElectionMs, a => $"{Median(a).ToString("0", ic)}/{RunFigures.Percentile(a, 0.99).ToString("0", ic)}/{a.Max().ToString("0", ic)} ms")}");
    }

    public static double Median(double[] sorted) =>
        sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;

    private string Diagnostics() =>
        string.Join("\n", Members.Select(m => $"--- {m.Name} ({(m.IsPaused ? "paused" : m.IsRunning ? "running" : "stopped")}):\n{ProcessCluster.Tail(m.Output, 30)}"))
        + (_firewall is null ? "" : "\n--- iptables:\n" + Firewall.List());

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
        var dir = Path.Combine(ResultsRoot(), $"chaos-{Seed}-{Label}");
        Directory.CreateDirectory(dir);
        var h = new StringBuilder("# call_ms\treturn_ms\tclient\toperation\n");
        foreach (var o in ops.OrderBy(o => o.Call))
            h.Append(CultureInfo.InvariantCulture,
                $"{TimeSpan.FromTicks(o.Call).TotalMilliseconds:0.000}\t{(o.OutcomeUnknown ? "unknown" : TimeSpan.FromTicks(o.Return).TotalMilliseconds.ToString("0.000", CultureInfo.InvariantCulture))}\t{o.Client}\t{KvModel.Instance.Describe(o.Input, o.Output)}\n");
        File.WriteAllText(Path.Combine(dir, "history.tsv"), h.ToString());
        File.WriteAllText(Path.Combine(dir, "report.txt"), report);
        lock (_log) File.WriteAllText(Path.Combine(dir, "run.log"), _log.ToString());
        foreach (var m in EveryMember)
            File.WriteAllText(Path.Combine(dir, $"{m.Name}.log"), m.Output);
        return dir;
    }

    public void Dispose()
    {
        foreach (var m in EveryMember)
            m.Dispose();
        _firewall?.Dispose();
        _dir.Dispose();
    }
}
