using System.Collections.Concurrent;

namespace Raft.Shell.Tests.EndToEnd;

/// <summary>
/// Several clients putting unique keys at once, each as fast as the member answers. A put answered
/// 200 is acknowledged: the ledger keeps its key and value, which must never be lost. A put without
/// an answer (the member died under it) may or may not have been applied; it is not counted.
/// </summary>
internal sealed class PutLoad(ConcurrentDictionary<string, string> ledger)
{
    private int _sent;
    private int _acknowledged;
    private int _unanswered;

    public int Sent => Volatile.Read(ref _sent);
    public int Acknowledged => Volatile.Read(ref _acknowledged);

    /// <summary>Puts that got no 200 (refused, reset or never connected).</summary>
    public int Unanswered => Volatile.Read(ref _unanswered);

    /// <summary>Runs <paramref name="clients"/> clients until <paramref name="stop"/>; keys start with <paramref name="prefix"/>.</summary>
    public Task RunAsync(GatewayClient client, string prefix, int clients, CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            for (var seq = 0; !stop.IsCancellationRequested; seq++)
            {
                var key = $"{prefix}{c:D2}-{seq:D6}";
                var value = $"{key}:{Guid.NewGuid():N}";
                Interlocked.Increment(ref _sent);
                // Not cancelled by stop: an answer that arrives is an acknowledgement all the same.
                var reply = await client.PutAsync(key, value);
                if (reply is { Ok: true })
                {
                    Assert.True(ledger.TryAdd(key, value), $"key {key} put twice");
                    Interlocked.Increment(ref _acknowledged);
                }
                else
                {
                    Interlocked.Increment(ref _unanswered);
                    await Task.Delay(5);
                }
            }
        })));

    /// <summary>The acknowledged puts that <paramref name="present"/> lacks or holds with another value.</summary>
    public static List<string> Lost(IReadOnlyDictionary<string, string> ledger, IReadOnlyDictionary<string, string> present) =>
        ledger.Where(kv => !present.TryGetValue(kv.Key, out var v) || v != kv.Value).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
}
