using System.Collections.Concurrent;
using Raft.Shell.Tests.EndToEnd;
using Raft.Testing.Linearizability;

namespace Raft.Shell.Tests.Chaos;

/// <summary>
/// One matrix row's load: concurrent clients on random serving members putting, deleting and
/// reading a few keys under the row's own prefix (so each row's history starts from empty keys),
/// plus unique ledger puts that must all survive. Records the history and the time of every
/// acknowledged write.
/// </summary>
internal sealed class MatrixLoad
{
    private const int KeyCount = 6;
    private readonly IReadOnlyList<ChaosMember> _members;
    private readonly int _seed;
    private readonly ConcurrentBag<long> _writeTimes = [];
    private readonly List<Task> _workers = [];
    private readonly CancellationTokenSource _stop = new();

    public MatrixLoad(IReadOnlyList<ChaosMember> members, string prefix, int seed)
    {
        _members = members;
        Prefix = prefix;
        _seed = seed;
        Keys = Enumerable.Range(0, KeyCount).Select(i => $"{prefix}k{i}").ToArray();
    }

    public string Prefix { get; }
    public string[] Keys { get; }
    public HistoryRecorder<KvInput, KvOutput> History { get; } = new();

    /// <summary>Acknowledged unique puts (key = value).</summary>
    public ConcurrentDictionary<string, string> Ledger { get; } = new(StringComparer.Ordinal);

    /// <summary>Recorder ticks of every acknowledged write, in no order.</summary>
    public IEnumerable<long> WriteTimes => _writeTimes;

    public void Start(int clients)
    {
        for (var c = 0; c < clients; c++)
        {
            var client = c;
            _workers.Add(Task.Run(() => ClientAsync(client, _stop.Token)));
        }
    }

    public async Task StopAsync()
    {
        _stop.Cancel();
        await Task.WhenAll(_workers);
    }

    /// <summary>A ledger put through <paramref name="m"/> outside the clients (a burst to make a follower lag); true when acknowledged.</summary>
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

    private async Task ClientAsync(int c, CancellationToken stop)
    {
        var rng = new Random(unchecked(_seed * 7919 + c));
        using var client = new ChaosClient(TimeSpan.FromSeconds(2));
        for (var seq = 0; !stop.IsCancellationRequested; seq++)
        {
            var serving = _members.Where(m => m.IsServing).ToArray();
            if (serving.Length == 0)
            {
                await Task.Delay(50);
                continue;
            }
            var m = serving[rng.Next(serving.Length)];
            var key = Keys[rng.Next(Keys.Length)];
            var dice = rng.NextDouble();
            bool ok;
            if (dice < 0.4)
            {
                var pending = History.Begin(c, KvInput.Put(key, $"c{c}.{seq}"));
                var (d, reply) = await client.PutAsync(m.ClientUrl, key, $"c{c}.{seq}");
                ok = EndWrite(pending, d, reply);
            }
            else if (dice < 0.5)
            {
                var pending = History.Begin(c, KvInput.Delete(key));
                var (d, reply) = await client.DeleteAsync(m.ClientUrl, key);
                ok = EndWrite(pending, d, reply);
            }
            else if (dice < 0.8)
            {
                var pending = History.Begin(c, KvInput.Get(key));
                var (_, reply) = await client.GetAsync(m.ClientUrl, key, serializable: false);
                ok = reply is { Ok: true };
                if (ok)
                    pending.Complete(KvOutput.Read(GatewayClient.Kvs(reply!).GetValueOrDefault(key)));
                else
                    pending.Discard();
            }
            else
            {
                ok = await LedgerPutAsync(client, m, $"c{c}.{seq}");
            }
            if (!ok)
                await Task.Delay(50);
        }
    }

    private bool EndWrite(PendingOperation<KvInput, KvOutput> pending, Delivery d, Reply? reply)
    {
        if (reply is { Ok: true })
        {
            pending.Complete(KvOutput.Done);
            _writeTimes.Add(History.Now);
            return true;
        }
        // Refused connections never reached a member; anything else may still be applied.
        if (d == Delivery.NotSent) pending.Discard();
        else pending.CompleteUnknown(KvOutput.Unknown);
        return false;
    }

    /// <summary>The longest stretch (ms) in [from, to] (recorder ticks) without an acknowledged write.</summary>
    public double LongestWriteGapMs(long from, long to)
    {
        var prev = from;
        long longest = 0;
        foreach (var w in _writeTimes.Where(w => w > from && w <= to).Order().Append(to))
        {
            longest = Math.Max(longest, w - prev);
            prev = w;
        }
        return TimeSpan.FromTicks(longest).TotalMilliseconds;
    }

    /// <summary>Ms from <paramref name="from"/> to the first acknowledged write after it; null when none.</summary>
    public double? FirstWriteAfterMs(long from) =>
        _writeTimes.Where(w => w > from).Order().Select(w => (double?)TimeSpan.FromTicks(w - from).TotalMilliseconds).FirstOrDefault();
}
