using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Raft.Core;

namespace Raft.Shell.Node;

/// <summary>
/// etcd's EtcdServer.snapshot, on the runner's thread, in the steps Core's SnapshotPlanner gives:
/// record the apply loop's snapshot in the raft storage, compact the in-memory log (or not, while a
/// snapshot is being sent), and save the snapshot to disk in the background (the WAL is safe to
/// share), then release the WAL and purge old files.
/// </summary>
internal sealed class SnapshotCreator(RaftRunner runner, RunnerSettings settings)
{
    /// <summary>The background saves, one after another; the runner waits for them when it stops.</summary>
    public Task Saves { get; private set; } = Task.CompletedTask;

    public void Create(CreateSnapshotRequest request)
    {
        var steps = new Steps(this, request);
        CoreAdapter.RunSnapshot(steps, request.Order);
        if (!steps.Recorded)
        {
            // The log moved past it meanwhile (a newer snapshot arrived): nothing to do, as in etcd.
            request.Saved.TrySetResult(Stopwatch.GetTimestamp());
        }
    }

    private sealed class Steps(SnapshotCreator creator, CreateSnapshotRequest request) : ISnapshotHandler
    {
        private Snapshot _snapshot = CoreAdapter.EmptySnapshot;

        public bool Recorded { get; private set; }

        public bool RecordSnapshot(ulong index)
        {
            if (CoreAdapter.CreateSnapshot(creator.Runner.Node, index, request.ConfState, request.Data) is not { } created)
                return false;
            creator.Runner.Node = created.Node;
            _snapshot = created.Snapshot;
            Recorded = true;
            return true;
        }

        public void CompactLog(ulong index)
        {
            if (CoreAdapter.Compact(creator.Runner.Node, index) is not { } compacted)
                return;
            creator.Runner.Node = compacted;
            creator.Settings.Logger.LogInformation("compacted Raft logs, compact-index {CompactIndex}", index);
        }

        public void SkipCompaction() => creator.Settings.Logger.LogInformation("skip compaction since there is an inflight snapshot");

        public void SaveAndRelease() => creator.SaveInBackground(_snapshot, request);
    }

    private RaftRunner Runner => runner;

    private RunnerSettings Settings => settings;

    private void SaveInBackground(Snapshot snap, CreateSnapshotRequest request)
    {
        Saves = Saves.ContinueWith(_ =>
        {
            try
            {
                var started = Stopwatch.GetTimestamp();
                settings.Storage.SaveSnap(snap);
                FilePurger.Release(settings.Storage, snap, settings.Logger);
                settings.Metrics.SnapSave(Stopwatch.GetElapsedTime(started));
                settings.Logger.LogInformation("saved snapshot, snapshot-index {Index}", snap.Metadata.Index);
                FilePurger.Purge(settings.Storage, settings.MaxWalFiles, settings.MaxSnapFiles, settings.Logger);
                request.Saved.TrySetResult(Stopwatch.GetTimestamp());
            }
            catch (Exception ex)
            {
                request.Saved.TrySetException(ex);
                throw;
            }
        }, CancellationToken.None, TaskContinuationOptions.LongRunning, TaskScheduler.Default); // seconds of disk work for a large state: not on a pool thread
    }
}
