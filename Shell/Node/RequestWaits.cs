using System.Collections.Concurrent;

namespace Raft.Shell.Node;

/// <summary>
/// etcd's wait.Wait: a caller registers its request id before proposing and gets a task; the apply
/// loop completes it with the result when it applies that request. Ids not registered (requests
/// of other members) are ignored.
/// </summary>
internal sealed class RequestWaits
{
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<object?>> _waits = new();

    /// <summary>Registers <paramref name="id"/>; the task completes on <see cref="Trigger"/>.</summary>
    public Task<object?> Register(ulong id) => RegisterSource(id).Task;

    /// <summary>Registers <paramref name="id"/> and returns the wait itself, for whoever may fail it early.</summary>
    internal TaskCompletionSource<object?> RegisterSource(ulong id)
    {
        var tcs = new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_waits.TryAdd(id, tcs))
            throw new InvalidOperationException($"broken invariant: request id {id:x} registered twice");
        return tcs;
    }

    /// <summary>Whether someone waits for <paramref name="id"/> (etcd's IsRegistered).</summary>
    public bool IsRegistered(ulong id) => _waits.ContainsKey(id);

    /// <summary>Completes and forgets the wait for <paramref name="id"/>, if any.</summary>
    public void Trigger(ulong id, object? result)
    {
        if (_waits.TryRemove(id, out var tcs))
            tcs.TrySetResult(result);
    }

    /// <summary>Fails and forgets the wait for <paramref name="id"/>, if any.</summary>
    public void Fail(ulong id, Exception error)
    {
        if (_waits.TryRemove(id, out var tcs))
            tcs.TrySetException(error);
    }

    /// <summary>Forgets <paramref name="id"/> without completing it (the caller gave up).</summary>
    public void Forget(ulong id) => _waits.TryRemove(id, out _);

    /// <summary>Fails every wait (the node stops).</summary>
    public void FailAll(Exception error)
    {
        foreach (var id in _waits.Keys)
            Fail(id, error);
    }

    /// <summary>How many waits are pending.</summary>
    public int Count => _waits.Count;
}
