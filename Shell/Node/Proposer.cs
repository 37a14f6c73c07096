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
            input.Abandon();
            metrics.ProposalFailed();
            lifecycle.ThrowIfStopping();
            throw leader.Lead == 0
                ? new RaftException(RaftErrorCode.NoLeader, "etcdserver: no leader")
                : new RaftException(RaftErrorCode.Timeout, "etcdserver: request timed out");
        }
        catch (OperationCanceledException)
        {
            input.Abandon();
            metrics.ProposalFailed();
            throw;
        }
    }
}
