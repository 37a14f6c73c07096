using System.Collections.Concurrent;
using System.Text.Json;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.PowerLoss.Process;

/// <summary>
/// Power cuts of a whole <c>raft serve</c> member, WAL and LMDB store together: puts from 8 clients,
/// a SIGKILL at a seeded moment, every write that no sync had made durable taken away below the
/// process (<c>plfs.c</c>), a restart. Every acknowledged put must be there, and the member's store
/// must agree with a replay of its WAL alone (a copy of the data directory without the store),
/// so the applied index the store recorded is never ahead of the data it describes.
/// </summary>
[Collection(ProcessCollection.Name)]
public class MemberPowerLossTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Generous = PowerCutMember.Generous;

    private static int Cycles => PowerCutMember.Cycles(3);

    // A lone member campaigns within an election timeout; batched store commits every 10 ms (etcd:
    // 100 ms) put many of them under the cuts.
    private static readonly string[] Timing = ["--heartbeat-interval", "20", "--election-timeout", "200", "--backend-batch-interval", "10ms"];

    // Snapshots every 300 entries (old snap files and WAL segments purged): the store is made durable
    // before each, and the WAL released behind it, under the cuts.
    private static readonly string[] Snapshots = ["--snapshot-count", "300", "--experimental-snapshot-catchup-entries", "10", "--max-snapshots", "2", "--max-wals", "2"];

    [Fact]
    public async Task EveryAcknowledgedPutSurvivesPowerCutsAndTheStoreMatchesTheWal()
    {
        using var dir = new TempDir();
        var shim = PowerCutMember.BuildShim(dir.Path);
        using var m = new PowerCutMember(dir, shim, "pl1", "127.0.27.1");
        // No snapshot, so the whole WAL stays to be replayed into a fresh store after every cut.
        m.Member.Flags.AddRange([.. Timing, "--snapshot-count", "10000000"]);
        var run = await CutCyclesAsync(m, Cycles, stopAtFirstLoss: false, replayCheck: true);
        AssertNothingLost(run);
        Assert.Empty(run.ReplayMismatches);
        Assert.Equal(run.Cuts.Count, run.ReplayChecks);
    }

    [Fact]
    public async Task EveryAcknowledgedPutSurvivesPowerCutsAcrossSnapshotsAndWalReleases()
    {
        using var dir = new TempDir();
        var shim = PowerCutMember.BuildShim(dir.Path);
        using var m = new PowerCutMember(dir, shim, "pl2", "127.0.27.2");
        m.Member.Flags.AddRange([.. Timing, .. Snapshots]);
        var run = await CutCyclesAsync(m, Cycles, stopAtFirstLoss: false, replayCheck: false);
        AssertNothingLost(run);
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(m.Member.DataDir, "member", "snap"), "*.snap"));
    }

    private static void AssertNothingLost(Run run)
    {
        Assert.Empty(run.Lost);
        Assert.Empty(run.StartFailures);
        Assert.InRange(run.Cuts.Count, Cycles, Cycles + 3);
        // The cuts took something away: writes that no sync had covered were undone.
        Assert.True(run.Cuts.Sum(c => c.UnsyncedWrites) > 0, "no cut found anything unsynced");
        Assert.True(run.Acknowledged >= Cycles * 5, $"only {run.Acknowledged} puts acknowledged");
    }

    [Fact]
    public async Task WithoutTheWalsFsyncTheSameCutsLoseAcknowledgedPuts()
    {
        using var dir = new TempDir();
        var shim = PowerCutMember.BuildShim(dir.Path);
        using var m = new PowerCutMember(dir, shim, "pl3", "127.0.27.3");
        m.Member.Flags.AddRange([.. Timing, "--unsafe-no-fsync"]);
        await AssertLossAsync(m, "--unsafe-no-fsync");
    }

    [Fact]
    public async Task WithoutTheStoresSyncTheSameCutsLoseAcknowledgedPuts()
    {
        using var dir = new TempDir();
        var shim = PowerCutMember.BuildShim(dir.Path);
        using var m = new PowerCutMember(dir, shim, "pl4", "127.0.27.4");
        // The WAL syncs; the store does not (MDB_NOSYNC), and the WAL is released behind its snapshots.
        m.Member.Flags.AddRange([.. Timing, .. Snapshots]);
        m.Member.Environment[Raft.Kv.Backend.LmdbBackend.UnsafeNoSyncVariable] = "1";
        await AssertLossAsync(m, "MDB_NOSYNC");
    }

    /// <summary>
    /// Runs the same cuts until one loses an acknowledged put or leaves a member that cannot start
    /// (its WAL without the records it began with, or its store behind a WAL released past it), so
    /// that every put it had acknowledged is out of reach: what the honest member never shows.
    /// </summary>
    private async Task AssertLossAsync(PowerCutMember m, string what)
    {
        var run = await CutCyclesAsync(m, cycles: 10, stopAtFirstLoss: true, replayCheck: false);
        Assert.True(run.Acknowledged > 0, "no put was acknowledged before the cuts");
        Assert.True(run.Lost.Count > 0 || run.StartFailures.Count > 0,
            $"{run.Cuts.Count} cuts of a member with {what} lost nothing ({TestSeed.Describe})");
    }

    private sealed record Run(
        List<CutReport> Cuts,
        int Acknowledged,
        List<string> Lost,
        List<string> StartFailures,
        List<string> ReplayMismatches,
        int ReplayChecks = 0);

    /// <summary>
    /// <paramref name="cycles"/> times: start, check, put from 8 clients for a seeded 100 to 700 ms,
    /// SIGKILL, cut the power (every other cut torn); then a last start to check the last cut.
    /// </summary>
    private async Task<Run> CutCyclesAsync(PowerCutMember pm, int cycles, bool stopAtFirstLoss, bool replayCheck)
    {
        var m = pm.Member;
        var random = TestSeed.NewRandom(output.WriteLine);
        var ledger = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        var run = new Run([], 0, [], [], []);
        int acknowledged = 0, replayChecks = 0;
        for (var cycle = 0; ; cycle++)
        {
            if (replayCheck && cycle > 0)
            {
                // The WAL alone, replayed into a fresh store, must give what the member's store gives.
                var replayed = await ReplayWithoutStoreAsync(m, cycle);
                var served = await DumpAsync(await StartAsync(m, run, cycle) ? m : null);
                if (served is null) break;
                replayChecks++;
                if (replayed != served)
                    run.ReplayMismatches.Add($"after cut {cycle}: store {Summary(served)}, WAL replay {Summary(replayed)}");
            }
            else if (!await StartAsync(m, run, cycle))
                break;

            var present = await Wait.ForAsync("a range of every key", Generous, () => m.Client.PrefixAsync("k"), () => m.Output);
            var lost = PutLoad.Lost(ledger, present);
            if (lost.Count > 0)
            {
                run.Lost.AddRange(lost);
                output.WriteLine($"start {cycle + 1}: {lost.Count} acknowledged puts lost, e.g. {string.Join(", ", lost.Take(5))}");
            }
            // Up to 3 cycles more while no cut has found anything unsynced (rare: a loaded machine's
            // cuts can all fall just after a sync), so that the check below of the cuts' sharpness
            // holds on what was cut, not on luck.
            var cutSomething = run.Cuts.Any(c => c.UnsyncedWrites > 0);
            if ((cycle >= cycles && (stopAtFirstLoss || cutSomething || cycle >= cycles + 3)) || (stopAtFirstLoss && lost.Count > 0))
            {
                m.Kill();
                break;
            }

            using var stop = new CancellationTokenSource();
            var load = new PutLoad(ledger);
            var running = load.RunAsync(m.Client, $"k{cycle:D2}-", clients: 8, stop.Token);
            // The seeded moment counts from the first acknowledged put, so every cut has some before it.
            await WaitAsync(() => Task.FromResult(load.Acknowledged > 0 || m.Process!.HasExited));
            await Task.WhenAny(Task.Delay(random.Next(100, 700)), m.Process!.Exited);
            m.Kill();
            stop.Cancel();
            await running;
            acknowledged += load.Acknowledged;
            var torn = cycle % 2 == 1;
            var cut = pm.CutPower(torn ? random : null);
            run.Cuts.Add(cut);
            output.WriteLine($"cut {cycle + 1}{(torn ? " (torn)" : "")}: {load.Acknowledged} puts acknowledged, {load.Unanswered} unanswered; lost to the cut: {cut}");
        }
        m.Kill();
        var final = run with { Acknowledged = acknowledged, ReplayChecks = replayChecks };
        output.WriteLine($"{final.Cuts.Count} cuts ({final.Cuts.Count(c => c.StoreUnsynced)} with store pages unsynced, " +
                         $"{final.Cuts.Count(c => c.WalUnsynced)} with WAL writes unsynced, {final.Cuts.Sum(c => c.TornWrites)} writes torn), " +
                         $"{acknowledged} puts acknowledged, {final.Lost.Count} lost, {final.StartFailures.Count} failed starts, " +
                         $"{final.ReplayMismatches.Count} store/WAL mismatches in {replayChecks} checks; {TestSeed.Describe}");
        foreach (var mismatch in final.ReplayMismatches) output.WriteLine(mismatch);
        return final;
    }

    /// <summary>Starts the member and waits until it answers; false (recorded) when it cannot start.</summary>
    private async Task<bool> StartAsync(Member m, Run run, int cycle)
    {
        m.Launch();
        if (await m.WaitStartedAsync(Generous)
            && await WaitAsync(async () => (await m.Client.GetAsync("/health")) is { Ok: true }))
            return true;
        var tail = string.Join('\n', m.Process!.Output.Split('\n').TakeLast(8));
        run.StartFailures.Add($"start {cycle + 1}: {tail}");
        output.WriteLine($"start {cycle + 1} failed:\n{tail}");
        m.Kill();
        return false;
    }

    private static async Task<bool> WaitAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + Generous;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition()) return true;
            await Task.Delay(50);
        }
        return false;
    }

    /// <summary>
    /// Copies the member's data directory without its store (<c>member/kv</c>), starts a member on
    /// the copy (no power cuts there) and returns what it serves once it has replayed the WAL.
    /// </summary>
    private async Task<string?> ReplayWithoutStoreAsync(Member m, int cycle)
    {
        var copy = m.DataDir + $".replay{cycle}";
        CopyDirectory(m.DataDir, copy, skip: Path.Combine(m.DataDir, "member", "kv"));
        using var replay = new Member(m.Name, copy, m.Token, new Uri(m.ClientUrl).Host);
        replay.Flags.AddRange(m.Flags);
        try
        {
            replay.Launch();
            if (!await replay.WaitStartedAsync(Generous)
                || !await WaitAsync(async () => (await replay.Client.GetAsync("/health")) is { Ok: true }))
            {
                output.WriteLine($"the WAL replay after cut {cycle} did not start:\n{replay.Output}");
                return null;
            }
            return await DumpAsync(replay);
        }
        finally
        {
            replay.Kill();
            Directory.Delete(copy, recursive: true);
        }
    }

    /// <summary>Every key with its value, revisions and version, and the store's revision, as one comparable text.</summary>
    private static async Task<string?> DumpAsync(Member? m)
    {
        if (m is null) return null;
        var reply = await Wait.ForAsync("a range of the whole store", Generous,
            () => m.Client.RangeAsync("\0", "\0"), () => m.Output);
        if (!reply.Ok) return null;
        var json = reply.Json;
        var revision = GatewayClient.U64(json.GetProperty("header"), "revision");
        var kvs = json.TryGetProperty("kvs", out var k)
            ? k.EnumerateArray().Select(e => string.Join(' ',
                e.GetProperty("key").GetString(), e.TryGetProperty("value", out var v) ? v.GetString() : "",
                Field(e, "create_revision"), Field(e, "mod_revision"), Field(e, "version")))
            : [];
        return $"revision {revision}\n{string.Join('\n', kvs)}";
    }

    private static string Field(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? v.ToString() : "0";

    private static string Summary(string? dump) =>
        dump is null ? "(nothing)" : $"{dump.Split('\n')[0]}, {dump.Split('\n').Length - 1} keys";

    private static void CopyDirectory(string from, string to, string skip)
    {
        Directory.CreateDirectory(to);
        foreach (var d in Directory.EnumerateDirectories(from))
            if (!string.Equals(d, skip, StringComparison.Ordinal))
                CopyDirectory(d, Path.Combine(to, Path.GetFileName(d)), skip);
        foreach (var f in Directory.EnumerateFiles(from))
            File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }
}
