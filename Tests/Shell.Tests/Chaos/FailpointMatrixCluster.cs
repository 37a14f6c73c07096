using Raft.Shell.Tests.EndToEnd;

namespace Raft.Shell.Tests.Chaos;

/// <summary>
/// The matrix's cluster: three <c>raft serve</c> members on RAFT_CHAOS_NET addresses with the
/// failpoint endpoint on and a low snapshot count (so snapshots, compaction and WAL releases happen
/// every few dozen writes), started once and shared by the rows, which run in sequence. A row
/// starts by healing whatever an earlier row left behind (a paused or stopped member).
/// </summary>
public sealed class FailpointMatrixCluster : IAsyncLifetime, IDisposable
{
    /// <summary>Committed entries between snapshots.</summary>
    public const int SnapshotCount = 40;

    /// <summary>Entries a leader keeps behind a snapshot for a slow follower.</summary>
    public const int CatchUpEntries = 10;

    private readonly TempDir _dir = new();

    public FailpointMatrixCluster()
    {
        var token = "fpm-" + Guid.NewGuid().ToString("N")[..8];
        for (var i = 1; i <= 3; i++)
        {
            var m = new ChaosMember(i, _dir.Sub($"m{i}"), token);
            m.Flags.AddRange(["--snapshot-count", $"{SnapshotCount}", "--experimental-snapshot-catchup-entries", $"{CatchUpEntries}"]);
            m.Environment["RAFT_FAILPOINTS_HTTP"] = "1";
            Members.Add(m);
        }
        var initial = string.Join(",", Members.Select(m => $"{m.Name}={m.PeerUrl}"));
        foreach (var m in Members)
            m.InitialCluster = initial;
    }

    internal List<ChaosMember> Members { get; } = [];

    public async Task InitializeAsync()
    {
        foreach (var m in Members)
            m.Launch();
        foreach (var m in Members)
            await m.WaitStartedAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>Resumes paused members and starts stopped ones (with no failpoint armed: arming is at run time only).</summary>
    internal async Task HealAsync()
    {
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
    }

    /// <summary>A member that says it leads and that a majority name as leader.</summary>
    internal Task<ChaosMember> FindLeaderAsync(TimeSpan timeout) =>
        Wait.ForAsync("a leader a majority agrees on", timeout, async () =>
        {
            var statuses = await Task.WhenAll(Members.Where(m => m.IsServing).Select(async m => (m, s: await m.Client.StatusAsync())));
            foreach (var (m, s) in statuses)
                if (s is not null && s.Leader == m.Id && statuses.Count(x => x.s?.Leader == m.Id) > Members.Count / 2)
                    return m;
            return null;
        }, Diagnostics);

    internal string Diagnostics() =>
        string.Join("\n", Members.Select(m => $"--- {m.Name} ({(m.IsPaused ? "paused" : m.IsRunning ? "running" : "stopped")}):\n{ProcessCluster.Tail(m.Output, 30)}"));

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose()
    {
        foreach (var m in Members)
            m.Dispose();
        _dir.Dispose();
    }
}
