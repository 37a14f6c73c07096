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
    internal Task HealAsync() => ChaosMember.HealAllAsync(Members);

    /// <summary>A member that says it leads and that a majority name as leader.</summary>
    internal Task<ChaosMember> FindLeaderAsync(TimeSpan timeout) => ChaosMember.FindLeaderAsync(Members, timeout, Diagnostics);

    internal string Diagnostics() => ChaosMember.Diagnostics(Members);

    /// <summary>Waits until every member reports the same applied index.</summary>
    internal Task AppliedAlikeAsync() =>
        Wait.UntilAsync("every member applying the same index", TimeSpan.FromSeconds(30), async () =>
        {
            var s = await Task.WhenAll(Members.Select(m => m.Client.StatusAsync()));
            return s.All(x => x is not null) && s.Select(x => x!.AppliedIndex).Distinct().Count() == 1;
        }, Diagnostics);

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose()
    {
        foreach (var m in Members)
            m.Dispose();
        _dir.Dispose();
    }
}
