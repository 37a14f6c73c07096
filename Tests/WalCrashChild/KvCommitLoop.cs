using Raft.Kv.Backend;

namespace Raft.Tests.WalCrashChild;

/// <summary>
/// <c>kv DIR</c>: opens the key-value backend in DIR, checks it holds exactly the state after its
/// last batch, then commits <see cref="KvCrashBatch"/> batches forever, printing <c>committed B</c>
/// once batch B's Commit has returned (so B is durable). Prints <c>bad REASON</c> and exits 3 if
/// the state it opened is not whole.
/// </summary>
internal static class KvCommitLoop
{
    public static int Run(string dir)
    {
        using var backend = KvBackends.Open(dir);
        long last;
        using (var reader = backend.OpenReader())
        {
            if (KvCrashBatch.Check(reader) is { } problem)
            {
                Console.WriteLine($"bad {problem}");
                return 3;
            }
            last = KvCrashBatch.Last(reader);
        }
        Console.WriteLine($"start {last}");
        while (true)
        {
            KvCrashBatch.Commit(backend, ++last);
            Console.WriteLine($"committed {last}");
        }
    }
}
