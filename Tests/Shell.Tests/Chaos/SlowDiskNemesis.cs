using System.Globalization;

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
        await RestartAsync(m, new Dictionary<string, string> { ["RAFT_FAILPOINTS"] = arm });
        return ($"{m}{(m == leader ? " (the leader)" : "")} restarted with RAFT_FAILPOINTS={arm}", () => RestartAsync(m, null));
    }

    private static async Task RestartAsync(ChaosMember m, IReadOnlyDictionary<string, string>? environment)
    {
        m.Kill();
        m.ProcessEnvironment = environment;
        m.Launch();
        await m.WaitStartedAsync(TimeSpan.FromSeconds(60));
    }
}
