using Raft.Kv.Backend;
using Raft.Shell.Tests.Storage;
using Raft.Tests.WalCrashChild;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Kv.Backend;

/// <summary>
/// The durable backend under SIGKILL: a child process commits batches (<see cref="KvCrashBatch"/>)
/// and is killed at seeded random moments; every batch it reported committed must be there, and
/// the database must hold exactly the state after one batch. A process kill keeps what reached the
/// page cache, so this checks atomicity and recovery, not power loss (see the README).
/// </summary>
public sealed class LmdbBackendCrashTests(ITestOutputHelper output)
{
    [Fact]
    public void Committed_batches_survive_SIGKILL_whole_and_nothing_partial_shows()
    {
        var rng = TestSeed.NewRandom(output.WriteLine);
        using var t = new TempDir();
        long acknowledged = 0;
        for (var round = 0; round < 6; round++)
        {
            using var child = ChildProcess.Start("kv", t.Path);
            using var reaper = ChildProcess.KillOnDispose(child);
            var start = child.StandardOutput.ReadLine();
            if (start is null || !start.StartsWith("start ", StringComparison.Ordinal))
            {
                child.Kill();
                Assert.Fail($"round {round}: child said {start}: {child.StandardError.ReadToEnd()} ({TestSeed.Describe})");
            }
            Assert.True(long.Parse(start[6..]) >= acknowledged, $"round {round}: child started at {start}, but batch {acknowledged} was acknowledged ({TestSeed.Describe})");
            // Read acknowledgements until a seeded number of them, then kill in the middle of the next batch's work.
            var target = rng.Next(1, 40);
            for (var seen = 0; seen < target;)
            {
                var line = child.StandardOutput.ReadLine();
                Assert.NotNull(line);
                if (!line.StartsWith("committed ", StringComparison.Ordinal)) continue;
                acknowledged = long.Parse(line[10..]);
                seen++;
            }
            Thread.Sleep(rng.Next(0, 15));
            child.Kill();
            child.WaitForExit();
            // Anything printed before the kill was acknowledged too.
            foreach (var line in child.StandardOutput.ReadToEnd().Split('\n'))
                if (line.StartsWith("committed ", StringComparison.Ordinal)) acknowledged = long.Parse(line[10..]);

            using var backend = KvBackends.Open(t.Path);
            using var reader = backend.OpenReader();
            var last = KvCrashBatch.Last(reader);
            output.WriteLine($"round {round}: killed after batch {acknowledged} was acknowledged; the database holds batch {last}");
            Assert.True(last >= acknowledged, $"batch {acknowledged} was acknowledged but the database holds {last} ({TestSeed.Describe})");
            Assert.True(last <= acknowledged + 1, $"the database holds batch {last}, beyond the one in flight after {acknowledged}");
            var problem = KvCrashBatch.Check(reader);
            Assert.True(problem is null, $"{problem} ({TestSeed.Describe})");
        }
    }
}
