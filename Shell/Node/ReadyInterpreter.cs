using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Raft.Core;

namespace Raft.Shell.Node;

/// <summary>
/// Runs one Ready's plan: each effect the planner decided, in its order, and the failpoints the
/// planner named around them. It implements Core's <see cref="IEffectHandler"/>, one method per
/// effect, so an effect added to Core does not compile until it is handled here.
/// </summary>
internal sealed class ReadyInterpreter(RaftRunner runner, RunnerSettings settings, IRunnerSink sink) : IEffectHandler
{
    private Ready _ready = CoreAdapter.EmptyReady;
    private NotifySlot _notify = new();
    private bool _applyWakePending;

    /// <summary>Runs <paramref name="plan"/>, made for <paramref name="rd"/>.</summary>
    public void Run(Ready rd, Plan plan)
    {
        _ready = rd;
        // The seed's notifyc for this Ready: the apply loop waits on it for the Ready's disk work.
        _notify = new NotifySlot();
        try
        {
            CoreAdapter.Run(this, plan);
        }
        finally
        {
            WakeApply();
        }
    }

    // The apply loop is woken for a Ready's entries before the runner blocks (disk work, a full
    // notify slot) or ends the Ready, not at once: woken at once, it took the core from the runner
    // (2 shared cores), applied, and slept again on the notify the runner had not posted yet; one
    // wake-up after the notify saves it a sleep per put on one member. The order of the effects is
    // the planner's still; only the apply loop's start moves, and never past a wait.
    private void WakeApply()
    {
        if (!_applyWakePending)
            return;
        _applyWakePending = false;
        sink.WakeApply();
    }

    public void Failpoint(GofailSite site)
    {
        if (settings.Failpoints is not { } failpoints)
            return;
        // A failpoint may sleep or end the process: the apply loop has its work first, as without one.
        WakeApply();
        failpoints.Hit(CoreAdapter.Failpoint(site));
    }

    public void UpdateSoftState(LeaderUpdate update) => sink.OnLeaderUpdate(update, CoreAdapter.Term(runner.Node));

    public void PublishReadState(ReadState readState) => sink.OnReadState(readState);

    public void Apply(Entry[] entries, Snapshot snapshot, ulong? committedIndex)
    {
        if (committedIndex is { } ci)
            sink.OnCommittedIndex(ci);
        sink.OnApply(new ApplyItem(entries, snapshot, _notify));
        _applyWakePending = true;
    }

    public void Save(HardState hardState, Entry[] entries, bool mustSync)
    {
        WakeApply();
        var started = Stopwatch.GetTimestamp();
        settings.Storage.Save(hardState, entries, mustSync);
        if (mustSync)
            settings.Metrics.WalFsync(Stopwatch.GetElapsedTime(started));
        if (!CoreAdapter.IsEmpty(hardState))
            sink.OnCommitSaved(hardState.Commit);
    }

    public void ProposalsCommitted(ulong commit) => settings.Metrics.SetCommitted(commit);

    public void Send(Message[] messages)
    {
        // The runner writes to idle peer connections itself while it is not under load.
        Transport.InlineSend.Set(runner.MaySendInline);
        try
        {
            settings.Transport.Send(messages);
        }
        finally
        {
            Transport.InlineSend.Set(false);
        }
    }

    public void SaveSnapshot(Snapshot snapshot)
    {
        WakeApply();
        settings.Storage.SaveSnap(snapshot);
    }

    public void Sync()
    {
        WakeApply();
        var started = Stopwatch.GetTimestamp();
        settings.Storage.Sync();
        settings.Metrics.WalFsync(Stopwatch.GetElapsedTime(started));
    }

    public void NotifyPersisted()
    {
        // A fresh slot takes the post at once; the apply loop then finds it when woken.
        if (!_notify.TryPost())
        {
            WakeApply();
            runner.PostNotify(_notify);
        }
        WakeApply();
    }

    public void ApplySnapshotToLog(Snapshot snapshot)
    {
        runner.Node = CoreAdapter.ApplySnapshotToStorage(runner.Node, snapshot);
        settings.Logger.LogInformation("applied incoming Raft snapshot, snapshot-index {Index}", snapshot.Metadata.Index);
    }

    public void Release(Snapshot snapshot) => settings.Storage.Release(snapshot);

    public void AppendToLog(Entry[] entries) => runner.Node = CoreAdapter.AppendToStorage(runner.Node, entries);

    // The slot holds one signal: the post waits until the apply loop took the notify, that is,
    // until it applied this Ready's entries.
    public void WaitApplied()
    {
        WakeApply();
        runner.PostNotify(_notify);
    }

    public void RedirectSnapshot(Message message) => sink.OnRedirectSnapshot(message);

    public void HeartbeatLate(ulong toPeer, TimeSpan exceeded)
    {
        settings.Logger.LogWarning(
            "leader failed to send out heartbeat on time; took too long, leader is overloaded likely from slow disk; to {To:x}, heartbeat-interval {Interval}, expected-duration {Expected}, exceeded-duration {Exceeded}",
            toPeer, settings.HeartbeatInterval, 2 * settings.HeartbeatInterval, exceeded);
        settings.Metrics.HeartbeatSendFailure();
    }

    public void Advance() => runner.Node = CoreAdapter.Advance(runner.Node, _ready);
}
