using Raft.Interop;

namespace Raft.Shell.Node;

/// <summary>
/// etcd's processInternalRaftRequestOnce: registers the wait, hands the proposal to the runner and
/// waits for the apply loop, within the request timeout.
/// </summary>
internal sealed class Proposer(RaftRunner runner, RequestWaits waits, NodeMetrics metrics, LeaderState leader, NodeLifecycle lifecycle, TimeSpan requestTimeout)
{
    /// <summary>Proposes an entry's data and waits until it is applied; the wait is dropped whatever happens.</summary>
    public async Task<object?> ProposeDataAsync(ulong id, byte[] data, CancellationToken ct)
    {
        var applied = waits.RegisterSource(id);
        var input = new ProposeInput(data, applied);
        metrics.ProposalPending();
        try
        {
            return await RunAsync(input, ct).ConfigureAwait(false);
        }
        finally
        {
            waits.Forget(id);
            metrics.ProposalDone();
        }
    }

    /// <summary>
    /// Hands the proposal to the runner and waits for its wait: completed by the apply loop, or failed
    /// by the runner when raft refuses the proposal.
    /// </summary>
    public async Task<object?> RunAsync(ProposeInput input, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct, lifecycle.Stopping);
        timeout.CancelAfter(requestTimeout);
        try
        {
            runner.Post(input);
            return await input.Applied.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // Abandon wins only while the proposal still waits in the runner (held for a leader):
            // then it never reached raft and "no leader" is a definite failure. Once claimed it may
            // be in a log and commit later, so the answer must be a timeout, as etcd's
            // ErrTimeoutDueToLeaderFail is, whatever the leader is now.
            var neverProposed = input.Abandon();
            metrics.ProposalFailed();
            lifecycle.ThrowIfStopping();
            throw (neverProposed, leader.Lead) switch
            {
                (true, 0) => new RaftException(RaftErrorCode.NoLeader, "etcdserver: no leader"),
                (false, 0) => new RaftException(RaftErrorCode.Timeout, "etcdserver: request timed out, possibly due to previous leader failure"),
                _ => new RaftException(RaftErrorCode.Timeout, "etcdserver: request timed out"),
            };
        }
        catch (OperationCanceledException)
        {
            input.Abandon();
            metrics.ProposalFailed();
            throw;
        }
    }
}
