namespace Raft.Shell.Tests.Chaos;

/// <summary>
/// The steps of the nemeses that change the set of processes (membership changes, slow-disk
/// restarts): the same course as the other faults (inject, hold, heal, quiet), with the election
/// measured when the leader is removed.
/// </summary>
internal sealed partial class ChaosRun
{
    private static bool IsProcessNemesis(FaultKind kind) => kind >= FaultKind.AddLearner;

    private async Task InjectProcessFaultAsync(FaultStep step, ChaosMember leader)
    {
        Log($"fault {step.Kind}: starting");
        var t0 = History.Now;
        Func<Task>? heal = null;
        Task<double?>? election = null;
        string what;
        switch (step.Kind)
        {
            case FaultKind.AddLearner:
                what = await AddLearnerAsync(step);
                break;
            case FaultKind.PromoteLearner:
                what = await PromoteLearnerAsync(step);
                break;
            case FaultKind.RemoveFollower:
                var voters = Members.Where(m => m != leader && m != _learner).ToArray();
                what = await RemoveAsync(step, voters[step.Pick % voters.Length]);
                break;
            case FaultKind.RemoveLeader:
                // The election is timed from the removal request: the old leader steps down once it
                // applies its own removal, and the others elect after an election timeout.
                election = MeasureElectionAsync(leader, Members.Where(m => m != leader && m != _learner).ToArray(), t0);
                what = await RemoveAsync(step, leader);
                break;
            case FaultKind.SlowDiskBeforeSave or FaultKind.SlowDiskAfterSave:
                (what, heal) = await SlowDiskAsync(step, leader);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(step), step.Kind, null);
        }
        Log($"fault {step.Kind}: {what}");
        await Task.Delay(step.Hold);
        double? electionMs = election is null ? null : await election;
        if (election is not null)
        {
            Log(electionMs is { } ms ? $"new leader elected {ms:0} ms after the removal request" : "NO new leader was elected after the leader's removal");
            Assert.True(electionMs is not null, $"no new leader within 20 s after {step}");
        }
        if (heal is not null)
            await heal();
        var healed = History.Now;
        Log($"healed {step.Kind}");
        lock (_events) _events.Add(new FaultEvent(step, t0, healed, electionMs));
        await Task.Delay(step.Quiet);
    }
}
