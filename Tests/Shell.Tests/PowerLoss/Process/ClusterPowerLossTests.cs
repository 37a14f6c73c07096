using System.Collections.Concurrent;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.PowerLoss.Process;

/// <summary>
/// Whole-cluster power cuts of three <c>raft serve</c> members (every member loses what it had not
/// synced, at once), some of them while a lagging follower receives and installs a checkpoint of
/// the leader's store. After every cut each member must hold every acknowledged put.
/// </summary>
[Collection(ProcessCollection.Name)]
public class ClusterPowerLossTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Generous = PowerCutMember.Generous;

    // Each cycle is two whole-cluster cuts: one while a lagging follower catches up, one plain.
    private static int Cycles => PowerCutMember.Cycles(1);

    private const string SendingSnapshot = "sending merged snapshot from ";

    [Fact]
    public async Task EveryAcknowledgedPutSurvivesWholeClusterPowerCutsIncludingDuringACheckpoint()
    {
        using var dir = new TempDir();
        var shim = PowerCutMember.BuildShim(dir.Path);
        var members = Enumerable.Range(1, 3).Select(i => new PowerCutMember(dir, shim, $"c{i}", $"127.0.27.{10 + i}", "plfs-cluster")).ToList();
        try
        {
            var initial = ProcessCluster.InitialCluster(members.Select(p => p.Member));
            foreach (var p in members)
            {
                p.Member.InitialCluster = initial;
                // Snapshots every 300 entries, keeping 10: a follower away for a few hundred puts is
                // caught up by a snapshot with a streamed checkpoint of the leader's store.
                p.Member.Flags.AddRange(["--heartbeat-interval", "50", "--election-timeout", "500", "--backend-batch-interval", "10ms",
                    "--snapshot-count", "300", "--experimental-snapshot-catchup-entries", "10", "--max-snapshots", "2", "--max-wals", "2"]);
            }
            await RunAsync(members);
        }
        finally
        {
            foreach (var p in members) p.Dispose();
        }
    }

    private async Task RunAsync(List<PowerCutMember> members)
    {
        var random = TestSeed.NewRandom(output.WriteLine);
        var ledger = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        int acknowledged = 0, duringCheckpoint = 0, afterCheckpoint = 0, cuts = 0, unsyncedWrites = 0, storeUnsynced = 0;
        var lost = new List<string>();
        // Each cycle: a follower lags (killed, its power cut, hundreds of puts go by) and comes back
        // by snapshot, and the whole cluster loses power while it catches up; then a plain cut under load.
        for (var cycle = 0; ; cycle++)
        {
            foreach (var p in members) p.Member.Launch();
            foreach (var p in members)
                Assert.True(await p.Member.WaitStartedAsync(Generous), $"{p.Member.Name} did not start after {cuts} cuts ({TestSeed.Describe}):\n{ProcessCluster.Tail(p.Member.Output, 20)}");
            var leader = await LeaderAsync(members);
            foreach (var p in members)
            {
                var missing = await MissingAsync(p.Member, ledger);
                if (missing.Count > 0) output.WriteLine($"{p.Member.Name} after {cuts} cuts: {missing.Count} acknowledged puts missing, e.g. {string.Join(", ", missing.Take(5))}");
                lost.AddRange(missing);
            }
            if (cycle == 2 * Cycles) break;

            var lagging = cycle % 2 == 0;
            var load = new PutLoad(ledger);
            using var stop = new CancellationTokenSource();
            PowerCutMember? follower = null;
            if (lagging)
            {
                follower = members.Where(p => p.Member != leader).ElementAt(cycle / 2 % 2);
                follower.Member.Kill();
                var early = follower.CutPower(null);
                unsyncedWrites += early.UnsyncedWrites;
            }
            var running = load.RunAsync(leader.Client, $"k{cycle:D2}-", clients: 8, stop.Token);
            var snapshotsSent = 0;
            if (follower is not null)
            {
                // Enough entries that the leader has compacted its log past the follower's.
                await Wait.UntilAsync("1,500 puts with a follower down", Generous, () => Task.FromResult(load.Acknowledged >= 1500), () => leader.Output);
                // Counted over every member: under load the leadership may move meanwhile.
                var others = members.Where(p => p != follower).Select(p => p.Member).ToList();
                snapshotsSent = others.Sum(m => Count(m.Process!.Output, SendingSnapshot));
                follower.Member.Launch();
                await Wait.UntilAsync($"a snapshot sent to {follower.Member.Name}", Generous,
                    () => Task.FromResult(others.Sum(m => Count(m.Process!.Output, SendingSnapshot)) > snapshotsSent),
                    () => string.Join("\n", members.Select(p => $"--- {p.Member.Name}:\n{ProcessCluster.Tail(p.Member.Process!.Output, 30)}")));
                // Soon after: the checkpoint is streamed and installed within some tens of milliseconds here.
                await Task.Delay(random.Next(0, 80));
            }
            else
            {
                await Wait.UntilAsync("a put acknowledged", Generous, () => Task.FromResult(load.Acknowledged > 0), () => leader.Output);
                await Task.Delay(random.Next(100, 700));
            }

            foreach (var p in members) p.Member.Kill();
            stop.Cancel();
            await running;
            acknowledged += load.Acknowledged;
            var torn = cycle % 4 >= 2;
            var reports = members.Select(p => p.CutPower(torn ? random : null)).ToList();
            cuts++;
            unsyncedWrites += reports.Sum(r => r.UnsyncedWrites);
            storeUnsynced += reports.Count(r => r.StoreUnsynced);
            var installed = follower is not null && follower.Member.Process!.Output.Contains("applied snapshot, snapshot-index", StringComparison.Ordinal);
            if (follower is not null && installed) afterCheckpoint++;
            else if (follower is not null) duringCheckpoint++;
            output.WriteLine($"cut {cuts}{(torn ? " (torn)" : "")}{(follower is null ? "" : $", {follower.Member.Name} catching up by snapshot, {(installed ? "installed" : "not yet installed")}")}: " +
                             $"{load.Acknowledged} puts acknowledged; " + string.Join("; ", members.Zip(reports, (p, r) => $"{p.Member.Name}: {r}")));
        }
        foreach (var p in members) p.Member.Kill();
        output.WriteLine($"{cuts} whole-cluster cuts ({duringCheckpoint} before the lagging follower had installed its checkpoint, {afterCheckpoint} after), " +
                         $"{unsyncedWrites} unsynced writes undone, {storeUnsynced} member cuts with store pages unsynced, " +
                         $"{acknowledged} puts acknowledged, {lost.Count} lost; {TestSeed.Describe}");
        Assert.Empty(lost);
        Assert.Equal(2 * Cycles, cuts);
        Assert.True(unsyncedWrites > 0, "no cut found anything unsynced");
    }

    private static int Count(string text, string what)
    {
        var n = 0;
        for (var at = text.IndexOf(what, StringComparison.Ordinal); at >= 0; at = text.IndexOf(what, at + what.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    /// <summary>The member every member names as leader, once they agree.</summary>
    private static async Task<Member> LeaderAsync(List<PowerCutMember> members) =>
        await Wait.ForAsync("a leader all members agree on", Generous, async () =>
        {
            ulong leader = 0;
            foreach (var p in members)
            {
                var s = await p.Member.Client.StatusAsync();
                if (s is null || s.Leader == 0 || (leader != 0 && s.Leader != leader)) return null;
                leader = s.Leader;
            }
            return members.Select(p => p.Member).FirstOrDefault(m => m.Id == leader);
        }, () => string.Join("\n", members.Select(p => ProcessCluster.Tail(p.Member.Output, 10))));

    /// <summary>
    /// The acknowledged puts that <paramref name="m"/> does not hold (read serializably from it alone),
    /// after giving it time to catch up.
    /// </summary>
    private static async Task<List<string>> MissingAsync(Member m, IReadOnlyDictionary<string, string> ledger)
    {
        var missing = ledger.Keys.ToList();
        var deadline = DateTime.UtcNow + Generous;
        while (DateTime.UtcNow < deadline)
        {
            var present = await m.Client.PrefixAsync("k", serializable: true);
            if (present is not null)
            {
                missing = PutLoad.Lost(ledger, present);
                if (missing.Count == 0) break;
            }
            await Task.Delay(100);
        }
        return missing;
    }
}
