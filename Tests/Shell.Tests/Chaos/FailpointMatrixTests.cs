using System.Globalization;
using System.Text;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;
using Raft.Testing.Linearizability;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Chaos;

/// <summary>
/// The failpoint matrix (issue 10, part 4): every failpoint x {leader, follower}, armed with panic
/// at run time on one member of three under concurrent load. The member must die at the failpoint
/// (a row fails if it does not within the bound, unless the site is documented unreachable in that
/// role, when the row shows that it was not hit), restart clean, catch up (its applied index
/// reaches the leader's, its data equals the others'), lose no acknowledged write, and leave a
/// linearizable history. Then sleep rows: a slow disk on the leader (raftBeforeSave/raftAfterSave)
/// and a slow apply; writes must go on while armed and resume after disarming within stated
/// bounds. The longer profile: RAFT_FAILPOINT_MATRIX_LOAD_MS (500 by default) lengthens every load
/// phase, RAFT_FAILPOINT_MATRIX_ROUNDS (1 by default) runs every panic row that many times (seeds
/// seed, seed+1, ...).
/// </summary>
[Collection(ProcessCollection.Name)]
public partial class FailpointMatrixTests(FailpointMatrixCluster cluster, ITestOutputHelper output) : IClassFixture<FailpointMatrixCluster>
{
    private const int Clients = 4;
    private const int KeyCount = 6;
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    /// <summary>How long a reachable site may take to be hit once provoked.</summary>
    private static readonly TimeSpan ReachBound = TimeSpan.FromSeconds(15);

    /// <summary>How long a site documented unreachable in a role is watched (under load) for a hit.</summary>
    private static readonly TimeSpan UnreachableWatch = TimeSpan.FromSeconds(1.5);

    private static int Rounds =>
        int.TryParse(Environment.GetEnvironmentVariable("RAFT_FAILPOINT_MATRIX_ROUNDS"), out var r) && r > 0 ? r : 1;

    private static TimeSpan LoadPhase =>
        TimeSpan.FromMilliseconds(int.TryParse(Environment.GetEnvironmentVariable("RAFT_FAILPOINT_MATRIX_LOAD_MS"), out var ms) && ms > 0 ? ms : 500);

    /// <summary>What a row does to bring its member to the failpoint.</summary>
    public enum Provocation
    {
        /// <summary>Nothing: the load reaches it.</summary>
        Load,
        /// <summary>The follower is paused while a few entries commit, then resumed: it receives entries already committed.</summary>
        Lag,
        /// <summary>The follower is killed while the leader compacts past it, then started with the failpoint armed: it receives a snapshot.</summary>
        Snapshot,
        /// <summary>A learner is added (and removed after the row): a conf change is applied.</summary>
        ConfChange,
    }

    private sealed record Site(string Name, Provocation Provoke, string? NotOnLeader, string? NotOnFollower);

    private const string SnapshotOnly = "only a member that receives a leader's snapshot reaches it; a leader never does";

    private static readonly Site[] Sites =
    [
        new("raftBeforeSaveWaitWalSync", Provocation.Lag,
            "a leader's entries are saved in the Ready that sends them, so none is committed before it is stable (reachable in a one-member cluster only)", null),
        new("raftBeforeLeaderSend", Provocation.Load, null, "leaders only"),
        new("raftBeforeSaveSnap", Provocation.Snapshot, SnapshotOnly, null),
        new("raftAfterSaveSnap", Provocation.Snapshot, SnapshotOnly, null),
        new("raftBeforeSave", Provocation.Load, null, null),
        new("raftAfterSave", Provocation.Load, null, null),
        new("raftBeforeApplySnap", Provocation.Snapshot, SnapshotOnly, null),
        new("raftAfterApplySnap", Provocation.Snapshot, SnapshotOnly, null),
        new("raftAfterWALRelease", Provocation.Snapshot, SnapshotOnly, null),
        new("raftBeforeFollowerSend", Provocation.Load, "followers and candidates only", null),
        new("applyBeforeOpenSnapshot", Provocation.Snapshot, SnapshotOnly, null),
        new("applyAfterOpenSnapshot", Provocation.Snapshot, SnapshotOnly, null),
        new("beforeApplyOneEntryNormal", Provocation.Load, null, null),
        new("beforeApplyOneConfChange", Provocation.ConfChange, null, null),
    ];

    public static TheoryData<string, string> PanicRows()
    {
        var rows = new TheoryData<string, string>();
        foreach (var s in Sites)
            foreach (var role in new[] { "leader", "follower" })
                rows.Add(s.Name, role);
        return rows;
    }

    [Fact]
    public void TheMatrixCoversEveryFailpointTheNodeHas()
    {
        var names = Enum.GetValues<Raft.Shell.Node.Failpoint>().Select(Raft.Shell.Node.FailpointSet.SeedName).Order(StringComparer.Ordinal);
        Assert.Equal(names, Sites.Select(s => s.Name).Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(PanicRows))]
    public async Task PanicOnOneMemberUnderLoad(string failpoint, string role)
    {
        var site = Sites.Single(s => s.Name == failpoint);
        var unreachable = role == "leader" ? site.NotOnLeader : site.NotOnFollower;
        for (var round = 0; round < Rounds; round++)
        {
            var label = $"{failpoint}-{role}{(round == 0 ? "" : $"-{round}")}";
            var seed = unchecked(TestSeed.Value + round);
            output.WriteLine($"matrix row {failpoint} x {role}, round {round + 1} of {Rounds}: seed {seed} ({TestSeed.Variable}={TestSeed.Value} replays the row)");
            await cluster.HealAsync();
            var leader = await cluster.FindLeaderAsync(Generous);
            if (unreachable is null && site.Provoke == Provocation.Snapshot)
                leader = await LeaderThatCompactsAsync(leader);
            var target = role == "leader" ? leader : cluster.Members.First(m => m != leader);
            var load = new ChaosLoad(cluster.Members, $"fpm/{label}/", KeyCount, seed, output.WriteLine);
            await KeepingArtifactsAsync(label, load, () => PanicRowAsync(site, role, unreachable, leader, target, load, label, ReachBound));
        }
    }

    private async Task PanicRowAsync(Site site, string role, string? unreachable, ChaosMember leader, ChaosMember target, ChaosLoad load, string label, TimeSpan reachBound)
    {
        var failpoint = site.Name;
        load.Start(Clients);
        ulong? learner = null;
        string outcome;
        try
        {
            await Task.Delay(LoadPhase);
            if (unreachable is null && site.Provoke == Provocation.Snapshot)
            {
                await RestartLaggingAsync(failpoint, target, leader, load);
            }
            else
            {
                var armed = await FailpointHttp.ArmAsync(target.ClientUrl, failpoint, "panic");
                // A busy member can reach the panic it was just armed with before its answer is
                // written: then there is no answer and the process is gone (its panic line is
                // checked below).
                if (armed is null)
                    Assert.True(await target.Process!.WaitForExitAsync(TimeSpan.FromSeconds(10)),
                        $"arming {failpoint} on {target} got no answer and the member is still running");
                else
                    Assert.Equal(204, armed);
                output.WriteLine($"armed {failpoint}=panic on {target} ({role}; leader {leader})");
                if (unreachable is null && armed is not null)
                    learner = await ProvokeAsync(site.Provoke, target, via: cluster.Members.First(m => m != target), leader, load);
            }
            var hit = await target.Process!.WaitForExitAsync(unreachable is null ? reachBound : UnreachableWatch);
            if (!hit)
            {
                var hits = (await FailpointHttp.ListAsync(target.ClientUrl))?[failpoint].Hits;
                Assert.Equal(204, await FailpointHttp.DisarmAsync(target.ClientUrl, failpoint));
                Assert.True(unreachable is not null,
                    $"{failpoint} on the {role} {target} was never hit within {reachBound.TotalSeconds:0} s after {site.Provoke} (hits {hits})\n{cluster.Diagnostics()}");
                Assert.Equal(0, hits);
                outcome = $"not hit in {UnreachableWatch.TotalSeconds:0.#} s under load, as documented: {unreachable}";
            }
            else
            {
                Assert.Contains($"failpoint {failpoint}: panic", target.Output);
                var restarted = load.History.Now;
                target.Launch();
                await target.WaitStartedAsync(TimeSpan.FromSeconds(60));
                var caughtUp = await CaughtUpAsync(target, load);
                outcome = string.Create(CultureInfo.InvariantCulture,
                    $"hit{(unreachable is null ? "" : " (documented unreachable, yet reached)")}; restart to caught up {TimeSpan.FromTicks(caughtUp - restarted).TotalMilliseconds:0} ms");
            }
            if (learner is { } id)
                await RemoveLearnerAsync(id);
        }
        finally
        {
            await load.StopAsync();
        }
        var (ops, lost, unknown) = await CheckAsync(load, label);
        output.WriteLine($"matrix result {failpoint} x {role}: {outcome}; operations checked {ops} ({unknown} unknown), acknowledged ledger puts {load.Ledger.Count}, lost {lost}");
    }

    /// <summary>
    /// A row fails when its site is not reached: <c>raftBeforeSaveSnap</c> armed on a follower
    /// that is never made to need a snapshot is not hit, and the row says so.
    /// </summary>
    [Fact]
    public async Task ARowWhoseSiteIsNeverReachedFails()
    {
        output.WriteLine(TestSeed.Describe);
        await cluster.HealAsync();
        var leader = await cluster.FindLeaderAsync(Generous);
        var follower = cluster.Members.First(m => m != leader);
        var site = Sites.Single(s => s.Name == "raftBeforeSaveSnap") with { Provoke = Provocation.Load };
        var load = new ChaosLoad(cluster.Members, "fpm/never-reached/", KeyCount, TestSeed.Value, output.WriteLine);
        var failure = await Assert.ThrowsAsync<Xunit.Sdk.TrueException>(() =>
            PanicRowAsync(site, "follower", null, leader, follower, load, "never-reached", TimeSpan.FromSeconds(2)));
        Assert.Contains("raftBeforeSaveSnap on the follower", failure.Message);
        Assert.Contains("was never hit within 2 s", failure.Message);
        Assert.True(follower.IsRunning);
        Assert.Equal("off", (await FailpointHttp.ListAsync(follower.ClientUrl))!["raftBeforeSaveSnap"].Action);
    }

    /// <summary>Brings <paramref name="target"/> to the site; the id of a learner added on the way, if any.</summary>
    private static async Task<ulong?> ProvokeAsync(Provocation provoke, ChaosMember target, ChaosMember via, ChaosMember leader, ChaosLoad load)
    {
        switch (provoke)
        {
            case Provocation.Lag:
                target.Pause();
                await BurstAsync(leader, load, 5);
                target.Resume();
                return null;
            case Provocation.ConfChange:
                var url = $"http://{ChaosNet.Address(200)}:2380";
                var reply = await via.Client.PostAsync("/v3/cluster/member/add", $"{{\"peerURLs\":[\"{url}\"],\"isLearner\":true}}");
                Assert.True(reply is { Ok: true }, $"adding a learner through {via}: {reply}");
                return GatewayClient.U64(reply!.Json.GetProperty("member"), "ID");
            default:
                return null;
        }
    }

    /// <summary>
    /// Makes <paramref name="target"/> (a follower) need a snapshot and restarts it with the
    /// failpoint armed from the start (RAFT_FAILPOINTS, as gofail's GOFAIL_FAILPOINTS). A paused
    /// (SIGSTOP) follower does not do: the leader's messages wait in its sockets, up to the
    /// leader's window of 512 in flight, and it catches up from them when resumed. So it is
    /// killed, the leader compacts its log past everything it had, and it starts again.
    /// </summary>
    private async Task RestartLaggingAsync(string failpoint, ChaosMember target, ChaosMember leader, ChaosLoad load)
    {
        target.Kill();
        await target.Process!.WaitForExitAsync(Generous);
        // The leader's commit index, and room for the entries it may have sent uncommitted.
        var past = (await leader.Client.StatusAsync())?.RaftIndex + 64 ?? ulong.MaxValue;
        await Wait.UntilAsync($"{leader} compacting its log past {past}", Generous, async () =>
        {
            await BurstAsync(leader, load, 20);
            return CompactedPast(leader, past);
        }, cluster.Diagnostics);
        target.Environment[Raft.Shell.Node.FailpointSet.EnvironmentVariable] = $"{failpoint}=panic";
        try
        {
            target.Launch();
        }
        finally
        {
            target.Environment.Remove(Raft.Shell.Node.FailpointSet.EnvironmentVariable);
        }
        output.WriteLine($"restarted the follower {target} behind {leader}'s compacted log with {failpoint}=panic armed");
    }

    /// <summary>
    /// etcd holds a leader's log compaction while it sends a snapshot and 30 s after one arrived,
    /// so a leader that sent one lately cannot make a follower need another: such a leader is
    /// killed and restarted before the load starts (it catches up from the new leader's log, as
    /// nothing is written meanwhile) until the leader is one that has sent no snapshot lately.
    /// </summary>
    private async Task<ChaosMember> LeaderThatCompactsAsync(ChaosMember leader)
    {
        for (var attempt = 0; attempt < 3 && SentSnapshotLately(leader); attempt++)
        {
            output.WriteLine($"{leader} sent a snapshot lately and holds its compaction: restarting it so that another member leads");
            leader.Kill();
            await leader.Process!.WaitForExitAsync(Generous);
            await cluster.FindLeaderAsync(Generous);
            leader.Launch();
            await leader.WaitStartedAsync(TimeSpan.FromSeconds(60));
            await cluster.AppliedAlikeAsync();
            leader = await cluster.FindLeaderAsync(Generous);
        }
        return leader;
    }

    private static bool SentSnapshotLately(ChaosMember m)
    {
        var now = DateTime.UtcNow.TimeOfDay;
        foreach (var line in (m.Process?.Output ?? "").Split('\n').Reverse())
        {
            if (!line.Contains("sending merged snapshot", StringComparison.Ordinal))
                continue;
            if (!TimeSpan.TryParseExact(line[..Math.Min(12, line.Length)], @"hh\:mm\:ss\.fff", CultureInfo.InvariantCulture, out var at))
                return true;
            var ago = now - at;
            if (ago < TimeSpan.Zero) ago += TimeSpan.FromDays(1);
            return ago < TimeSpan.FromSeconds(35);
        }
        return false;
    }

    /// <summary>Whether this life of <paramref name="m"/> logged a compaction of its Raft log past <paramref name="index"/>.</summary>
    private static bool CompactedPast(ChaosMember m, ulong index) =>
        CompactIndex().Matches(m.Process?.Output ?? "").Any(x => ulong.Parse(x.Groups[1].Value, CultureInfo.InvariantCulture) > index);

    [System.Text.RegularExpressions.GeneratedRegex(@"compacted Raft logs, compact-index (\d+)")]
    private static partial System.Text.RegularExpressions.Regex CompactIndex();

    private static async Task BurstAsync(ChaosMember leader, ChaosLoad load, int count)
    {
        using var client = new ChaosClient(TimeSpan.FromSeconds(2));
        var stamp = Guid.NewGuid().ToString("N")[..6];
        await Task.WhenAll(Enumerable.Range(0, count).Select(i => load.LedgerPutAsync(client, leader, $"burst-{stamp}-{i}")));
    }

    private async Task RemoveLearnerAsync(ulong id)
    {
        await Wait.UntilAsync($"removing learner {id:x}", Generous, async () =>
        {
            var via = cluster.Members.First(m => m.IsServing);
            var r = await via.Client.MemberRemoveAsync(id);
            return r is { Ok: true } || r?.Body.Contains("member not found", StringComparison.OrdinalIgnoreCase) == true;
        }, cluster.Diagnostics);
    }

    /// <summary>Waits until <paramref name="m"/> has applied what the leader had applied just before; the recorder time then.</summary>
    private async Task<long> CaughtUpAsync(ChaosMember m, ChaosLoad load)
    {
        await Wait.UntilAsync($"{m} catching up", Generous, async () =>
        {
            var leader = await cluster.FindLeaderAsync(Generous);
            var lead = await leader.Client.StatusAsync();
            var mine = await m.Client.StatusAsync();
            return lead is not null && mine is not null && mine.AppliedIndex >= lead.AppliedIndex;
        }, cluster.Diagnostics);
        return load.History.Now;
    }

    /// <summary>
    /// After the load: every member applies the same index and holds the same data under the row's
    /// prefix; every acknowledged ledger put is there; the history with final reads is linearizable.
    /// </summary>
    private async Task<(int Ops, int Lost, int Unknown)> CheckAsync(ChaosLoad load, string label)
    {
        await cluster.HealAsync();
        await cluster.AppliedAlikeAsync();
        var data = new List<Dictionary<string, string>>();
        foreach (var m in cluster.Members)
            data.Add(await Wait.ForAsync($"a local read of {load.Prefix} on {m}", Generous, () => m.Client.PrefixAsync(load.Prefix, serializable: true)));
        for (var i = 1; i < data.Count; i++)
            Assert.True(data[0].OrderBy(kv => kv.Key, StringComparer.Ordinal).SequenceEqual(data[i].OrderBy(kv => kv.Key, StringComparer.Ordinal)),
                $"{cluster.Members[i]} holds other data than {cluster.Members[0]} under {load.Prefix}");

        var lost = await load.LostWritesAsync(cluster.Diagnostics);
        await load.FinalReadsAsync(Clients, cluster.Diagnostics);
        var ops = load.History.Operations;
        var result = LinearizabilityChecker.Check(KvModel.Instance, ops,
            new CheckOptions { Timeout = TimeSpan.FromSeconds(60), DescribeTime = TimeFormats.TimeSpanTicks });
        if (!result.IsLinearizable || lost.Count > 0 || !load.RevisionRegressions.IsEmpty)
        {
            var why = new StringBuilder();
            if (!result.IsLinearizable) why.AppendLine(result.Describe());
            if (lost.Count > 0) why.AppendLine($"acknowledged writes lost: {string.Join(", ", lost.Take(20))}");
            foreach (var r in load.RevisionRegressions.Take(20)) why.AppendLine($"revision went back: {r}");
            var dir = WriteArtifacts(load, label, why.ToString());
            _artifactsWritten = true;
            Assert.Fail($"matrix row {label} failed, {TestSeed.Describe}; history and logs in {dir}\n{why}");
        }
        return (result.OperationCount, lost.Count, ops.Count(o => o.OutcomeUnknown));
    }

    private bool _artifactsWritten;

    /// <summary>Runs a row; when it fails by any assertion, its history and the members' logs are kept.</summary>
    private async Task KeepingArtifactsAsync(string label, ChaosLoad load, Func<Task> row)
    {
        try
        {
            await row();
        }
        catch (Exception ex) when (!_artifactsWritten)
        {
            await load.StopAsync();
            output.WriteLine($"row failed: {ex.Message}; history and logs in {WriteArtifacts(load, label, ex.ToString())}");
            throw;
        }
    }

    private static string WriteArtifacts(ChaosLoad load, string label, string report) =>
        load.WriteArtifacts($"{TestSeed.Value}-fpm-{label}", report, runLog: null);

    // ------------------------------------------------------------------------------------------
    // Sleep rows.

    /// <summary>The longest window without an acknowledged write that a row accepts while its sleep is armed (2 shared cores).</summary>
    private static readonly TimeSpan ArmedGapBound = TimeSpan.FromSeconds(5);

    /// <summary>How soon after disarming a write must be acknowledged.</summary>
    private static readonly TimeSpan ResumeBound = TimeSpan.FromSeconds(3);

    [Theory]
    [InlineData("raftBeforeSave", "sleep(200)")]
    [InlineData("raftAfterSave", "sleep(200)")]
    [InlineData("beforeApplyOneEntryNormal", "sleep(20)")]
    public async Task SleepOnTheLeaderSlowsWritesThatResumeAfterDisarming(string failpoint, string action)
    {
        var label = $"{failpoint}-sleep";
        output.WriteLine($"matrix row {failpoint}={action} on the leader: {TestSeed.Describe}");
        await cluster.HealAsync();
        var leader = await cluster.FindLeaderAsync(Generous);
        var load = new ChaosLoad(cluster.Members, $"fpm/{label}/", KeyCount, TestSeed.Value, output.WriteLine);
        await KeepingArtifactsAsync(label, load, async () =>
        {
            load.Start(Clients);
            double armedGap, resumeMs, beforeGap;
            int hits;
            try
            {
                await Task.Delay(LoadPhase);
                var t0 = load.History.Now;
                await Task.Delay(LoadPhase);
                var armed = load.History.Now;
                beforeGap = load.LongestWriteGapMs(t0, armed);
                Assert.Equal(204, await FailpointHttp.ArmAsync(leader.ClientUrl, failpoint, action));
                await Task.Delay(LoadPhase * 3);
                hits = (await FailpointHttp.ListAsync(leader.ClientUrl))?[failpoint].Hits ?? 0;
                var disarmed = load.History.Now;
                Assert.Equal(204, await FailpointHttp.DisarmAsync(leader.ClientUrl, failpoint));
                armedGap = load.LongestWriteGapMs(armed, disarmed);
                await Wait.UntilAsync("a write after disarming", Generous, () => Task.FromResult(load.FirstWriteAfterMs(disarmed) is not null), cluster.Diagnostics);
                resumeMs = load.FirstWriteAfterMs(disarmed)!.Value;
                await Task.Delay(LoadPhase);
            }
            finally
            {
                await load.StopAsync();
            }
            var (ops, lost, unknown) = await CheckAsync(load, label);
            var load1 = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"matrix result {failpoint}={action} on the leader {leader}: hits {hits}; longest window without a write: before {beforeGap:0} ms, armed {armedGap:0} ms (bound {ArmedGapBound.TotalMilliseconds:0}); first write {resumeMs:0} ms after disarming (bound {ResumeBound.TotalMilliseconds:0}); operations checked {ops} ({unknown} unknown), lost {lost}; load average {load1}"));
            Assert.True(hits > 0, $"{failpoint} was never hit on the leader while armed");
            Assert.True(armedGap < ArmedGapBound.TotalMilliseconds, $"no write for {armedGap:0} ms while {failpoint}={action} was armed");
            Assert.True(resumeMs < ResumeBound.TotalMilliseconds, $"the first write came {resumeMs:0} ms after disarming");
        });
    }
}
