using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Raft.Shell.Node;

/// <summary>
/// etcd's EtcdServer.snapshot, on the runner's thread: records the apply loop's snapshot in the
/// raft storage, compacts the in-memory log leaving catch-up entries, and saves the snapshot to
/// disk in the background (the WAL is safe to share), then releases the WAL and purges old files.
/// </summary>
internal sealed class SnapshotCreator(RaftRunner runner, RunnerSettings settings)
{
    /// <summary>The background saves, one after another; the runner waits for them when it stops.</summary>
    public Task Saves { get; private set; } = Task.CompletedTask;

    public void Create(CreateSnapshotRequest c)
    {
        if (CoreAdapter.CreateSnapshot(runner.Node, c.Index, c.ConfState, c.Data) is not { } created)
        {
            // The log moved past it meanwhile (a newer snapshot arrived): nothing to do, as in etcd.
            c.Saved.TrySetResult(Stopwatch.GetTimestamp());
            return;
        }
        runner.Node = created.Node;
        var snap = created.Snapshot;
        if (c.Compact)
        {
            var compactIndex = c.Index > settings.SnapshotCatchUpEntries ? c.Index - settings.SnapshotCatchUpEntries : 1UL;
            if (CoreAdapter.Compact(runner.Node, compactIndex) is { } compacted)
            {
                runner.Node = compacted;
                settings.Logger.LogInformation("compacted Raft logs, compact-index {CompactIndex}", compactIndex);
            }
        }
        else
        {
            settings.Logger.LogInformation("skip compaction since there is an inflight snapshot");
        }
        Saves = Saves.ContinueWith(_ =>
        {
            try
            {
                var started = Stopwatch.GetTimestamp();
                settings.Storage.SaveSnap(snap);
                settings.Storage.Release(snap);
                settings.Metrics.SnapSave(Stopwatch.GetElapsedTime(started));
                settings.Logger.LogInformation("saved snapshot, snapshot-index {Index}", snap.Metadata.Index);
                settings.Storage.Purge(settings.MaxWalFiles, settings.MaxSnapFiles);
                c.Saved.TrySetResult(Stopwatch.GetTimestamp());
            }
            catch (Exception ex)
            {
                c.Saved.TrySetException(ex);
                throw;
            }
        }, CancellationToken.None, TaskContinuationOptions.LongRunning, TaskScheduler.Default); // seconds of disk work for a large state: not on a pool thread
    }
}
