using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Raft.Shell.Tests.EndToEnd;
using Raft.Testing.Linearizability;

namespace Raft.Shell.Tests.Chaos;

/// <summary>
/// The chaos clients' work on a cluster of <see cref="ChaosMember"/>s: concurrent clients on random
/// serving members (followers forward) putting unique values, deleting, reading linearizably and
/// serializably a few keys under <see cref="Prefix"/>, and putting unique ledger keys that must all
/// survive. Records the history, the time of every acknowledged write, and any member whose
/// <c>header.revision</c> went back for a client. Then the final reads and the checks.
/// </summary>
internal sealed class ChaosLoad
{
    private readonly Func<IReadOnlyList<ChaosMember>> _members;
    private readonly int _seed;
    private readonly Action<string> _log;
    private readonly ConcurrentBag<long> _writeTimes = [];
    private readonly List<Task> _workers = [];
    private readonly CancellationTokenSource _stop = new();

    /// <param name="members">Where the clients send their requests (those serving at the time).</param>
    /// <param name="prefix">Before every key, so that a run on a cluster that served others starts from absent keys.</param>
    /// <param name="keyCount">Keys put, deleted and read.</param>
    /// <param name="seed">Each client's choices derive from it.</param>
    /// <param name="log">Where a revision going back is reported.</param>
    public ChaosLoad(IReadOnlyList<ChaosMember> members, string prefix, int keyCount, int seed, Action<string> log)
        : this(() => members, prefix, keyCount, seed, log)
    {
    }

    /// <param name="members">
    /// The current members, read at every request, final read and ledger check, so that the load
    /// follows membership changes made while it runs.
    /// </param>
    /// <param name="prefix">Before every key, so that a run on a cluster that served others starts from absent keys.</param>
    /// <param name="keyCount">Keys put, deleted and read.</param>
    /// <param name="seed">Each client's choices derive from it.</param>
    /// <param name="log">Where a revision going back is reported.</param>
    public ChaosLoad(Func<IReadOnlyList<ChaosMember>> members, string prefix, int keyCount, int seed, Action<string> log)
    {
        _members = members;
        Prefix = prefix;
        _seed = seed;
        _log = log;
        Keys = Enumerable.Range(0, keyCount).Select(i => $"{prefix}k{i}").ToArray();
    }

    public string Prefix { get; }
    public string[] Keys { get; }
    public HistoryRecorder<KvInput, KvOutput> History { get; } = new();

    /// <summary>
    /// A deliberately broken client: its "linearizable" gets are sent as serializable reads (answered
    /// by the member alone, however stale) yet recorded as linearizable.
    /// </summary>
    public bool BrokenReads { get; init; }

    /// <summary>Acknowledged unique puts (key = value).</summary>
    public ConcurrentDictionary<string, string> Ledger { get; } = new(StringComparer.Ordinal);

    /// <summary>Answers whose revision was below one the same client had from the same member.</summary>
    public ConcurrentQueue<string> RevisionRegressions { get; } = new();

    /// <summary>Recorder ticks of every acknowledged write, oldest first.</summary>
    public long[] WriteTimes => [.. _writeTimes.Order()];

    public void Start(int clients)
    {
        for (var c = 0; c < clients; c++)
        {
            var client = c;
            _workers.Add(Task.Run(() => ClientLoopAsync(client, _stop.Token)));
        }
    }

    public async Task StopAsync()
    {
        _stop.Cancel();
        await Task.WhenAll(_workers);
    }

    /// <summary>A ledger put through <paramref name="m"/>; true when acknowledged.</summary>
    public async Task<bool> LedgerPutAsync(ChaosClient client, ChaosMember m, string name)
    {
        var key = $"{Prefix}ledger/{name}";
        var (_, reply) = await client.PutAsync(m.ClientUrl, key, key);
        if (reply is not { Ok: true })
            return false;
        Ledger[key] = key;
        _writeTimes.Add(History.Now);
        return true;
    }

    private async Task ClientLoopAsync(int c, CancellationToken stop)
    {
        var rng = new Random(unchecked(_seed * 7919 + c));
        using var client = new ChaosClient(TimeSpan.FromSeconds(2));
        var maxRevision = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var seq = 0; !stop.IsCancellationRequested; seq++)
        {
            var serving = _members().Where(m => m.IsServing).ToArray();
            if (serving.Length == 0)
            {
                await Task.Delay(50);
                continue;
            }
            var m = serving[rng.Next(serving.Length)];
            var key = Keys[rng.Next(Keys.Length)];
            var dice = rng.NextDouble();
            bool ok;
            Reply? reply;
            string what;
            if (dice < 0.35)
            {
                var value = $"c{c}.{seq}";
                var pending = History.Begin(c, KvInput.Put(key, value));
                (var d, reply) = await client.PutAsync(m.ClientUrl, key, value);
                ok = EndWrite(pending, d, reply);
                what = $"put({key})";
            }
            else if (dice < 0.45)
            {
                var pending = History.Begin(c, KvInput.Delete(key));
                (var d, reply) = await client.DeleteAsync(m.ClientUrl, key);
                ok = EndWrite(pending, d, reply);
                what = $"delete({key})";
            }
            else if (dice < 0.75)
            {
                var pending = History.Begin(c, KvInput.Get(key));
                (_, reply) = await client.GetAsync(m.ClientUrl, key, serializable: BrokenReads);
                ok = reply is { Ok: true };
                if (ok)
                    pending.Complete(KvOutput.Read(GatewayClient.Kvs(reply!).GetValueOrDefault(key)));
                else
                    pending.Discard();
                what = $"get({key})";
            }
            else if (dice < 0.88)
            {
                // Serializable: not linearizable, so not in the history; only its revision is checked.
                (_, reply) = await client.GetAsync(m.ClientUrl, key, serializable: true);
                ok = reply is { Ok: true };
                what = $"serializable get({key})";
            }
            else
            {
                // A unique key, never overwritten: an acknowledged one must be there at the end.
                var ledgerKey = $"{Prefix}ledger/c{c}.{seq}";
                (_, reply) = await client.PutAsync(m.ClientUrl, ledgerKey, ledgerKey);
                ok = reply is { Ok: true };
                if (ok)
                {
                    Ledger[ledgerKey] = ledgerKey;
                    _writeTimes.Add(History.Now);
                }
                what = $"put({ledgerKey})";
            }
            CheckRevision(maxRevision, c, m, reply, what);
            if (!ok)
                await Task.Delay(50);
        }
    }

    private void CheckRevision(Dictionary<string, long> maxRevision, int client, ChaosMember member, Reply? reply, string what)
    {
        if (reply is not { Ok: true } || ChaosClient.Revision(reply) is not { } rev)
            return;
        if (maxRevision.TryGetValue(member.Name, out var max) && rev < max)
        {
            var line = $"client {client} of {member.Name} (life {member.Lives}): {what} answered revision {rev} after {max}";
            RevisionRegressions.Enqueue(line);
            _log("REVISION WENT BACK: " + line);
        }
        maxRevision[member.Name] = Math.Max(max, rev);
    }

    private static bool IsNoLeader(Reply? reply) =>
        reply is { Status: 503 } r && r.Body.Contains("\"etcdserver: no leader\"", StringComparison.Ordinal);

    private bool EndWrite(PendingOperation<KvInput, KvOutput> pending, Delivery d, Reply? reply)
    {
        if (reply is { Ok: true })
        {
            pending.Complete(KvOutput.Done);
            _writeTimes.Add(History.Now);
            return true;
        }
        // Refused connections never reached a member, and "no leader" is the node's answer for a
        // proposal that never left its runner (a timed-out proposal that raft took answers
        // "request timed out ..."): both are definite failures, so the checker holds the node to
        // them. Anything else may still be applied.
        if (d == Delivery.NotSent || IsNoLeader(reply)) pending.Discard();
        else pending.CompleteUnknown(KvOutput.Unknown);
        return false;
    }

    /// <summary>The longest stretch (ms) in (from, to] (recorder ticks) without an acknowledged write.</summary>
    public double LongestWriteGapMs(long from, long to)
    {
        var prev = from;
        long longest = 0;
        foreach (var w in WriteTimes.Where(w => w > from && w <= to).Append(to))
        {
            longest = Math.Max(longest, w - prev);
            prev = w;
        }
        return TimeSpan.FromTicks(longest).TotalMilliseconds;
    }

    /// <summary>Ms from <paramref name="from"/> to the first acknowledged write after it; null when none.</summary>
    public double? FirstWriteAfterMs(long from) =>
        WriteTimes.Where(w => w > from).Select(w => (double?)TimeSpan.FromTicks(w - from).TotalMilliseconds).FirstOrDefault();

    /// <summary>A linearizable read of every key, recorded as client <paramref name="client"/>, so the check covers the final state too.</summary>
    public async Task FinalReadsAsync(int client, Func<string> diagnostics)
    {
        using var http = new ChaosClient(TimeSpan.FromSeconds(2));
        var i = 0;
        foreach (var key in Keys)
        {
            await Wait.UntilAsync($"a final read of {key}", TimeSpan.FromSeconds(30), async () =>
            {
                var members = _members();
                var m = members[i++ % members.Count];
                var pending = History.Begin(client, KvInput.Get(key));
                var (_, reply) = await http.GetAsync(m.ClientUrl, key, serializable: false);
                if (reply is not { Ok: true })
                {
                    pending.Discard();
                    return false;
                }
                pending.Complete(KvOutput.Read(GatewayClient.Kvs(reply).GetValueOrDefault(key)));
                return true;
            }, diagnostics);
        }
    }

    /// <summary>Acknowledged ledger puts missing from (or different in) any member's linearizable read.</summary>
    public async Task<List<string>> LostWritesAsync(Func<string> diagnostics)
    {
        var lost = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var m in _members())
        {
            var present = await Wait.ForAsync($"a linearizable read of the ledger on {m.Name}", TimeSpan.FromSeconds(30),
                () => m.Client.PrefixAsync(Prefix + "ledger/"), diagnostics);
            foreach (var key in PutLoad.Lost(Ledger, present))
                lost.Add($"{key} (missing on {m.Name})");
        }
        return [.. lost];
    }

    /// <summary>
    /// Writes the history, a report, a log and the output of <paramref name="logsOf"/> (by default
    /// the current members) under <c>TestResults/chaos-&lt;name&gt;/</c> (see
    /// <see cref="ChaosRun.ResultsRoot"/>); returns the directory.
    /// </summary>
    public string WriteArtifacts(string name, string report, string? runLog, IEnumerable<ChaosMember>? logsOf = null)
    {
        var dir = Path.Combine(ChaosRun.ResultsRoot(), $"chaos-{name}");
        Directory.CreateDirectory(dir);
        var h = new StringBuilder("# call_ms\treturn_ms\tclient\toperation\n");
        foreach (var o in History.Operations.OrderBy(o => o.Call))
            h.Append(CultureInfo.InvariantCulture,
                $"{TimeSpan.FromTicks(o.Call).TotalMilliseconds:0.000}\t{(o.OutcomeUnknown ? "unknown" : TimeSpan.FromTicks(o.Return).TotalMilliseconds.ToString("0.000", CultureInfo.InvariantCulture))}\t{o.Client}\t{KvModel.Instance.Describe(o.Input, o.Output)}\n");
        File.WriteAllText(Path.Combine(dir, "history.tsv"), h.ToString());
        File.WriteAllText(Path.Combine(dir, "report.txt"), report);
        if (runLog is not null)
            File.WriteAllText(Path.Combine(dir, "run.log"), runLog);
        foreach (var m in logsOf ?? _members())
            File.WriteAllText(Path.Combine(dir, $"{m.Name}.log"), m.Output);
        return dir;
    }
}
