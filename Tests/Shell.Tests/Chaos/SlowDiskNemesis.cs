using System.Globalization;
using Raft.Shell.Node;

namespace Raft.Shell.Tests.Chaos;

/// <summary>
/// A slow disk: a member (the leader or a follower, as the step's pick says) restarted with a
/// sleep failpoint around every WAL append, armed at process start through RAFT_FAILPOINTS, and at
/// the heal restarted without it.
/// </summary>
internal sealed partial class ChaosRun
{
    private async Task<(string What, Func<Task> Heal)> SlowDiskAsync(FaultStep step, ChaosMember leader)
    {
        var failpoint = step.Kind == FaultKind.SlowDiskBeforeSave ? "raftBeforeSave" : "raftAfterSave";
        var sleep = Nemesis.SlowDiskSleepMs(step);
        var followers = Members.Where(m => m != leader).ToArray();
        var m = step.Pick % 2 == 0 ? leader : followers[step.Pick / 2 % followers.Length];
        var arm = string.Create(CultureInfo.InvariantCulture, $"{failpoint}=sleep({sleep})");
        await RestartAsync(m, arm);
        return ($"{m}{(m == leader ? " (the leader)" : "")} restarted with {FailpointSet.EnvironmentVariable}={arm}", () => RestartAsync(m, null));
    }

    /// <summary>Restarts <paramref name="m"/> with <paramref name="failpoints"/> armed at start, or with none when null.</summary>
    private static async Task RestartAsync(ChaosMember m, string? failpoints)
    {
        m.Kill();
        if (failpoints is null) m.Environment.Remove(FailpointSet.EnvironmentVariable);
        else m.Environment[FailpointSet.EnvironmentVariable] = failpoints;
        m.Launch();
        await m.WaitStartedAsync(TimeSpan.FromSeconds(60));
    }
}
