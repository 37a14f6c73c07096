namespace Raft.Shell.Node;

/// <summary>
/// etcd's wait.WaitTime over the applied index: a task completes once the apply loop has applied
/// the index it waits for.
/// </summary>
internal sealed class AppliedIndexWait
{
    private readonly object _lock = new();
    private readonly SortedDictionary<ulong, TaskCompletionSource> _waits = new();
    private ulong _applied;
    private Exception? _stopped;

    /// <summary>The highest index triggered so far.</summary>
    public ulong Applied => Volatile.Read(ref _applied);

    /// <summary>A task that completes once the applied index reaches <paramref name="index"/>.</summary>
    public Task WaitAsync(ulong index)
    {
        lock (_lock)
        {
            if (_stopped is not null)
                return Task.FromException(_stopped);
            if (_applied >= index)
                return Task.CompletedTask;
            if (!_waits.TryGetValue(index, out var tcs))
                _waits[index] = tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return tcs.Task;
        }
    }

    /// <summary>Records that everything up to <paramref name="applied"/> is applied.</summary>
    public void Trigger(ulong applied)
    {
        List<TaskCompletionSource>? done = null;
        lock (_lock)
        {
            if (applied <= _applied)
                return;
            Volatile.Write(ref _applied, applied);
            while (_waits.Count > 0)
            {
                var first = _waits.First();
                if (first.Key > applied)
                    break;
                _waits.Remove(first.Key);
                (done ??= []).Add(first.Value);
            }
        }
        if (done is not null)
            foreach (var t in done)
                t.TrySetResult();
    }

    /// <summary>Fails every wait, now and later (the node stops).</summary>
    public void Stop(Exception error)
    {
        List<TaskCompletionSource> all;
        lock (_lock)
        {
            _stopped = error;
            all = [.. _waits.Values];
            _waits.Clear();
        }
        foreach (var t in all)
            t.TrySetException(error);
    }
}
