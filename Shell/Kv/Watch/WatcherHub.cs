using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Watch;

/// <summary>
/// etcd's watchableStore over an <see cref="MvccStore"/>: synced watchers get each write transaction's
/// events from the store's <see cref="MvccStore.Changed"/> event on the apply thread, which only ever
/// queues without waiting; a watcher whose stream is full, or one that starts at a past revision, is
/// unsynced and catches up from the store's history (<see cref="MvccStore.ReadHistory"/>) in a
/// background loop, then joins the synced ones. A watcher whose next revision is compacted away gets
/// the compaction revision and is cancelled. Unlike etcd, a watcher whose next revision is the
/// compaction revision itself counts as compacted: that revision's deletes are gone from history, and
/// etcd would leave them out without a word.
/// </summary>
/// <remarks>
/// Invariant: for every watcher, the events queued so far are exactly the store's events in its range
/// from its start revision up to <c>NextRevision - 1</c>, in order; a synced watcher has every
/// revision up to the last one the apply path announced queued.
/// </remarks>
public sealed class WatcherHub : IDisposable
{
    private readonly object _lock = new();
    private MvccStore _store;
    private readonly WatchOptions _options;
    private readonly ILogger _logger;
    private readonly HashSet<Watcher> _synced = new();
    private readonly HashSet<Watcher> _unsynced = new();
    private readonly HashSet<WatchStream> _streams = new();
    private readonly Dictionary<string, ConnectionWatches> _connections = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _syncLoop;
    private readonly Task _progressLoop;
    // The last revision the apply path announced: every synced watcher has its events up to it queued.
    private long _lastNotified;

    /// <summary>Starts watching <paramref name="store"/>'s changes and the background catch-up and progress loops.</summary>
    public WatcherHub(MvccStore store, WatchOptions? options = null, ILogger<WatcherHub>? logger = null)
    {
        _store = store;
        _options = options ?? new WatchOptions();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _store.Changed += OnChanged;
        lock (_lock) _lastNotified = store.CurrentRevision;
        _syncLoop = Task.Run(SyncLoopAsync);
        _progressLoop = Task.Run(ProgressLoopAsync);
    }

    /// <summary>
    /// Follows the state machine to a store that replaced the old one (a checkpoint installed from the
    /// leader): every synced watcher catches up from the new store's history, or learns it was
    /// compacted, as etcd's watchableStore does when it restores.
    /// </summary>
    internal void Rebind(MvccStore store)
    {
        lock (_lock)
        {
            if (ReferenceEquals(store, _store)) return;
            _store.Changed -= OnChanged;
            Volatile.Write(ref _store, store);
            store.Changed += OnChanged;
            foreach (var w in _synced.ToList()) Unsync(w, w.NextRevision);
        }
        _wake.Release();
    }

    /// <summary>For the tests' broken variant: a watcher that falls behind skips the revision it could not take.</summary>
    internal bool DropRevisionWhenFull { get; set; }

    /// <summary>How many watchers take events from the apply path now.</summary>
    public int SyncedCount
    {
        get { lock (_lock) return _synced.Count; }
    }

    /// <summary>How many watchers are catching up from history now.</summary>
    public int UnsyncedCount
    {
        get { lock (_lock) return _unsynced.Count; }
    }

    /// <summary>Events queued on every stream and not yet taken by its sender (etcd's pending events).</summary>
    public long PendingEvents
    {
        get { lock (_lock) return _streams.Sum(s => (long)s.QueuedEventCount); }
    }

    /// <summary>How many watch streams are open now.</summary>
    public int StreamCount
    {
        get { lock (_lock) return _streams.Count; }
    }

    /// <summary>Opens a stream for one client; dispose it when the client goes.</summary>
    /// <param name="connectionId">
    /// The client connection it is on: its watchers count against <see cref="WatchOptions.MaxWatchesPerConnection"/>
    /// together with those of the connection's other streams. Null: not counted.
    /// </param>
    public WatchStream OpenStream(string? connectionId = null)
    {
        lock (_lock)
        {
            ConnectionWatches? connection = null;
            if (connectionId is not null && !_connections.TryGetValue(connectionId, out connection))
                _connections[connectionId] = connection = new ConnectionWatches(connectionId);
            if (connection is not null) connection.Streams++;
            var stream = new WatchStream(this, _options.StreamBuffer, _options.ControlBuffer, connection);
            _streams.Add(stream);
            return stream;
        }
    }

    // A create refused before it reached the hub (etcd's isWatchPermitted): created and canceled at once, with the client's id.
    internal void Refuse(WatchStream stream, long watchId, string reason)
    {
        lock (_lock) stream.QueueControl(new WatchBatch(WatchBatchKind.Created, null, watchId, _lastNotified, [], CancelReason: reason));
    }

    internal void Watch(WatchStream stream, WatchSpec spec)
    {
        lock (_lock)
        {
            var end = spec.RangeEnd.Span;
            var openEnded = end.Length == 1 && end[0] == 0;
            string? refused = null;
            if (!end.IsEmpty && !openEnded && spec.Key.Span.SequenceCompareTo(end) >= 0) refused = "mvcc: watcher range is empty";
            else if (spec.WatchId > 0 && stream.Watchers.ContainsKey(spec.WatchId)) refused = "mvcc: duplicate watch ID provided on the WatchStream";
            else if (_options.MaxWatchesPerConnection > 0 && stream.Connection is { } connection && connection.Watchers >= _options.MaxWatchesPerConnection)
                refused = $"etcdserver: too many watches on this connection (max-watches-per-connection {_options.MaxWatchesPerConnection})";
            if (refused is not null)
            {
                stream.QueueControl(new WatchBatch(WatchBatchKind.Created, null, -1, _lastNotified, [], CancelReason: refused));
                return;
            }
            long id;
            if (spec.WatchId > 0)
            {
                id = spec.WatchId;
            }
            else
            {
                while (stream.Watchers.ContainsKey(stream.NextId)) stream.NextId++;
                id = stream.NextId++;
            }
            var start = spec.StartRevision;
            var watcher = new Watcher(stream, id, spec, start <= 0 ? _lastNotified + 1 : start);
            stream.Watchers[id] = watcher;
            if (stream.Connection is not null) stream.Connection.Watchers++;
            stream.QueueControl(new WatchBatch(WatchBatchKind.Created, watcher, id, _lastNotified, []));
            if (watcher.NextRevision > _lastNotified)
            {
                watcher.Synced = true;
                _synced.Add(watcher);
            }
            else
            {
                _unsynced.Add(watcher);
                _wake.Release();
            }
        }
    }

    internal bool Cancel(WatchStream stream, long id)
    {
        lock (_lock)
        {
            if (!stream.Watchers.TryGetValue(id, out var watcher)) return false;
            Remove(watcher);
            stream.QueueControl(new WatchBatch(WatchBatchKind.Canceled, watcher, id, _lastNotified, []));
            SendDeferredProgress(stream);
            return true;
        }
    }

    internal void RequestProgress(WatchStream stream)
    {
        lock (_lock)
        {
            stream.ProgressRequested = true;
            SendDeferredProgress(stream);
        }
    }

    internal void Close(WatchStream stream)
    {
        lock (_lock)
        {
            foreach (var w in stream.Watchers.Values.ToList()) Remove(w);
            if (_streams.Remove(stream) && stream.Connection is { } connection && --connection.Streams == 0)
                _connections.Remove(connection.Id);
        }
    }

    private void Remove(Watcher w)
    {
        w.Canceled = true;
        if (w.Stream.Watchers.Remove(w.Id) && w.Stream.Connection is { } connection) connection.Watchers--;
        _synced.Remove(w);
        _unsynced.Remove(w);
    }

    // Under the lock: the progress a client asked for goes out once all its watchers are synced.
    private void SendDeferredProgress(WatchStream stream)
    {
        if (!stream.ProgressRequested || stream.Watchers.Values.Any(w => !w.Synced)) return;
        stream.ProgressRequested = false;
        stream.QueueControl(new WatchBatch(WatchBatchKind.Progress, null, -1, _lastNotified, []));
    }

    // On the apply thread, after each write transaction: queue without waiting, or leave the watcher behind.
    private void OnChanged(MvccChanges changes)
    {
        lock (_lock)
        {
            if (changes.Revision > _lastNotified + 1)
            {
                // Revisions went by without events (the store was replaced by a snapshot): every synced
                // watcher finds what it missed, or the compaction, in history.
                foreach (var w in _synced.ToList()) Unsync(w, Math.Max(w.NextRevision, _lastNotified + 1));
            }
            _lastNotified = changes.Revision;
            if (_synced.Count == 0) return;
            Dictionary<Watcher, IReadOnlyList<MvccEvent>>? matched = null;
            foreach (var w in _synced)
            {
                if (changes.Revision < w.NextRevision) continue;
                var events = w.SelectShared(changes.Events);
                if (events is not null) (matched ??= new()).Add(w, events);
            }
            if (matched is null) return;
            foreach (var (w, events) in matched)
            {
                if (w.Stream.TryQueueBounded(new WatchBatch(WatchBatchKind.Events, w, w.Id, changes.Revision, events)))
                    w.NextRevision = changes.Revision + 1;
                else
                    Unsync(w, DropRevisionWhenFull ? changes.Revision + 1 : changes.Revision);
            }
        }
    }

    private void Unsync(Watcher w, long next)
    {
        w.Synced = false;
        w.NextRevision = next;
        _synced.Remove(w);
        _unsynced.Add(w);
        _wake.Release();
    }

    private async Task SyncLoopAsync()
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(_options.SyncInterval, ct);
                // Drain the wake-ups: one pass serves them all.
                while (_wake.CurrentCount > 0) await _wake.WaitAsync(ct);
                while (SyncOnce() && !ct.IsCancellationRequested)
                {
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (Exception ex)
            {
                _logger.LogError(ex, "watch catch-up failed; retrying");
            }
        }
    }

    /// <summary>
    /// One catch-up step for the unsynced watchers (etcd's syncWatchers): compacted ones are
    /// cancelled, the others get the next span of history; those that reach the apply path's revision
    /// join the synced. Returns whether it queued anything (so another step may follow at once).
    /// </summary>
    internal bool SyncOnce()
    {
        List<(Watcher W, long Next)> pending;
        var compacted = _store.CompactRevision;
        var progress = false;
        lock (_lock)
        {
            if (_unsynced.Count == 0) return false;
            foreach (var w in _unsynced.Where(w => w.NextRevision <= compacted).ToList())
            {
                Remove(w);
                w.Stream.QueueControl(new WatchBatch(WatchBatchKind.Compacted, w, w.Id, _lastNotified, [], compacted));
                SendDeferredProgress(w.Stream);
                progress = true;
            }
            // A watcher whose stream is full could take nothing: reading history for it is waste
            // (the timer brings it back once its client reads).
            pending = _unsynced.Where(w => w.Stream.HasRoom).Select(w => (w, w.NextRevision)).ToList();
        }
        if (pending.Count == 0) return progress;
        var from = pending.Min(p => p.Next);
        List<MvccChanges> history;
        long upTo;
        try
        {
            (history, upTo) = _store.ReadHistory(from, _options.MaxRevisionsPerSync, _options.MaxCatchUpBytes);
        }
        catch (MvccException)
        {
            // Compacted while reading: the next step cancels the watchers it concerns.
            return true;
        }
        // Chosen outside the lock: only this loop moves an unsynced watcher's next revision.
        var selected = new List<(Watcher W, long Next, List<MvccEvent>? Events)>(pending.Count);
        foreach (var (w, next) in pending)
        {
            List<MvccEvent>? events = null;
            foreach (var c in history)
            {
                if (c.Revision >= next) events = w.Select(c.Events, events);
            }
            selected.Add((w, next, events));
        }
        lock (_lock)
        {
            foreach (var (w, next, events) in selected)
            {
                if (w.Canceled || w.Synced || w.NextRevision != next) continue;
                if (next <= upTo)
                {
                    if (events is not null && !w.Stream.TryQueueBounded(new WatchBatch(WatchBatchKind.Events, w, w.Id, upTo, events)))
                        continue;
                    w.NextRevision = upTo + 1;
                    progress = true;
                }
                if (w.NextRevision > _lastNotified)
                {
                    w.Synced = true;
                    _unsynced.Remove(w);
                    _synced.Add(w);
                    SendDeferredProgress(w.Stream);
                    progress = true;
                }
            }
        }
        return progress;
    }

    private async Task ProgressLoopAsync()
    {
        var ct = _stop.Token;
        using var timer = new PeriodicTimer(_options.ProgressNotifyInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct)) NotifyProgress();
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>etcd's progress notification: each synced watcher that asked for it gets an empty response at the current revision.</summary>
    internal void NotifyProgress()
    {
        lock (_lock)
        {
            foreach (var w in _synced)
            {
                if (w.Spec.ProgressNotify)
                    w.Stream.TryQueueBounded(new WatchBatch(WatchBatchKind.Progress, w, w.Id, _lastNotified, []));
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _store.Changed -= OnChanged;
        _stop.Cancel();
        try
        {
            Task.WaitAll([_syncLoop, _progressLoop], TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        _stop.Dispose();
        _wake.Dispose();
    }
}
