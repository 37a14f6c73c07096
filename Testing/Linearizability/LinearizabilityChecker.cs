using System.Diagnostics;

namespace Raft.Testing.Linearizability;

/// <summary>
/// Decides whether a concurrent history is linearizable with respect to a model: the search of
/// Wing and Gong with Lowe's memoisation, as porcupine and Knossos run it. Each partition of the
/// history is checked on its own (in parallel); the result is the same whatever the scheduling.
/// </summary>
public static class LinearizabilityChecker
{
    /// <summary>
    /// Checks <paramref name="history"/> against <paramref name="model"/>. Operations with an unknown
    /// outcome (<see cref="Operation.Never"/> as return time) may take effect at any point after their
    /// call, or never. Cancelling <paramref name="cancellationToken"/> throws; the budgets in
    /// <paramref name="options"/> instead end in <see cref="CheckOutcome.Unknown"/>.
    /// </summary>
    /// <exception cref="ArgumentException">An operation returns before it is called.</exception>
    public static CheckResult<TInput, TOutput> Check<TState, TInput, TOutput>(
        IModel<TState, TInput, TOutput> model,
        IEnumerable<Operation<TInput, TOutput>> history,
        CheckOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(history);
        options ??= new CheckOptions();

        var byKey = new Dictionary<string, List<(int, Operation<TInput, TOutput>)>>(StringComparer.Ordinal);
        int count = 0;
        foreach (var op in history)
        {
            if (op.Return < op.Call || op.Call == Operation.Never)
                throw new ArgumentException($"operation #{count} returns ({op.Return}) before it is called ({op.Call})", nameof(history));
            string key = model.PartitionKey(op.Input);
            if (!byKey.TryGetValue(key, out var list)) byKey[key] = list = [];
            list.Add((count, op));
            count++;
        }

        var keys = byKey.Keys.Order(StringComparer.Ordinal).ToArray();
        var results = new PartitionResult<TInput, TOutput>[keys.Length];
        long deadline = options.Timeout is { } t
            ? Stopwatch.GetTimestamp() + (long)(t.TotalSeconds * Stopwatch.Frequency)
            : long.MaxValue;
        void Run(int i)
        {
            results[i] = new PartitionSearch<TState, TInput, TOutput>(model, keys[i], byKey[keys[i]], options, deadline, cancellationToken).Run();
        }

        if (options.MaxDegreeOfParallelism <= 1 || keys.Length <= 1)
        {
            for (int i = 0; i < keys.Length; i++) Run(i);
        }
        else
        {
            // Largest partitions first so one big key does not start last.
            var order = Enumerable.Range(0, keys.Length).OrderByDescending(i => byKey[keys[i]].Count).ToArray();
            Parallel.ForEach(order,
                new ParallelOptions { MaxDegreeOfParallelism = options.MaxDegreeOfParallelism, CancellationToken = cancellationToken },
                Run);
        }

        var outcome = results.Any(r => r.Outcome == CheckOutcome.Illegal) ? CheckOutcome.Illegal
            : results.Any(r => r.Outcome == CheckOutcome.Unknown) ? CheckOutcome.Unknown
            : CheckOutcome.Ok;
        return new CheckResult<TInput, TOutput>(outcome, results, count);
    }
}
