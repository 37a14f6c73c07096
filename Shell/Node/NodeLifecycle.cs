using Microsoft.Extensions.Logging;
using Raft.Interop;
using Raft.Shell.Storage;

using Raft.Shell.Node.Advanced;

namespace Raft.Shell.Node;

/// <summary>The parts of a running member that start and stop together.</summary>
internal sealed record NodeParts(
    RaftRunner Runner,
    ApplyLoop Apply,
    ReadIndexLoop Reads,
    IPeerTransport Transport,
    NodeStorage Storage,
    RequestWaits Waits,
    AppliedIndexWait AppliedWait,
    AppliedIndexWait SavedCommit);

/// <summary>
/// Starting and stopping a member: the loops in order, etcd's adjustTicks and publish at start,
/// and a graceful stop (refuse new requests, end the runner after the Ready in hand, let the apply
/// loop finish what it was handed, stop the transport, close the WAL).
/// </summary>
internal sealed class NodeLifecycle(ILogger log, ulong self)
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _stopLock = new();
    private Task? _stopTask;
    private Task _publish = Task.CompletedTask;
    private Exception? _failure;
    private NodeParts? _parts;

    /// <summary>Cancelled once the member starts stopping.</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>Why the member stopped, if it failed.</summary>
    public Exception? Failure => Volatile.Read(ref _failure);

    /// <summary>Completes when the member has stopped; faulted when it stopped because of a failure.</summary>
    public Task Stopped => _stopped.Task;

    /// <summary>Throws etcd's "server stopped" once the member is stopping.</summary>
    public void ThrowIfStopping()
    {
        if (_stopping.IsCancellationRequested)
            throw new RaftException(RaftErrorCode.Stopped, "etcdserver: server stopped", Failure);
    }

    /// <summary>
    /// Starts the loops, fast-forwards the first election timeout and publishes the member's
    /// attributes in the background.
    /// </summary>
    public void Start(NodeParts parts, IEnumerable<(ulong Id, IReadOnlyList<string> PeerUrls)> peers, int ticksToAdvance, Func<CancellationToken, Task> publish)
    {
        _parts = parts;
        foreach (var (id, urls) in peers)
            parts.Transport.AddPeer(id, urls);
        parts.Apply.Start();
        parts.Runner.Start();
        parts.Reads.Start();
        if (ticksToAdvance > 0)
            parts.Runner.Post(new AdvanceTicksInput(ticksToAdvance));
        _publish = Task.Run(() => publish(Stopping));
    }

    /// <summary>
    /// etcd's adjustTicks: a member alone campaigns at its first tick once it is a voter; a member
    /// of a larger cluster fast-forwards all but two ticks of its first election timeout, so a
    /// fresh cluster elects a leader quickly while pre-vote keeps a restarting member from
    /// disturbing a live one. etcd advances a member alone by one tick less than the election
    /// timeout, which still leaves up to another election timeout of its randomized one (on
    /// average half a second with etcd's defaults before a restarted member alone answers a
    /// linearizable read); with nobody to disturb, this passes the longest randomized timeout.
    /// </summary>
    public static int TicksToAdvance(int votingMembersAtStart, int electionTicks) =>
        votingMembersAtStart <= 1 ? 2 * electionTicks - 1 : electionTicks - 2;

    /// <summary>
    /// etcd's publish: proposes this member's name and client URLs until they are applied, so the
    /// cluster knows the member has started.
    /// </summary>
    public async Task PublishAsync(Proposer proposer, RequestIdGenerator ids, ulong clusterId, RaftNodeOptions options, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var id = ids.Next();
                var data = EntryData.MemberAttributes(id, self, options.Name, RaftNodeOptions.SplitUrls(options.AdvertiseClientUrls));
                await proposer.ProposeDataAsync(id, data, ct).ConfigureAwait(false);
                log.LogInformation("published local member {Id:x} to cluster {ClusterId:x}: name {Name}, client URLs {Urls}",
                    self, clusterId, options.Name, options.AdvertiseClientUrls);
                return;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (RaftException ex) when (ex.Code == RaftErrorCode.Stopped)
            {
                return;
            }
            catch (RaftException ex)
            {
                log.LogWarning("failed to publish local member to cluster through raft: {Error}", ex.Message);
            }
        }
    }

    /// <summary>Stops once; a failure given first is what <see cref="Stopped"/> faults with.</summary>
    public Task StopAsync(Exception? failure)
    {
        lock (_stopLock)
        {
            if (failure is not null && _failure is null)
                Volatile.Write(ref _failure, failure);
            return _stopTask ??= Task.Run(StopCoreAsync);
        }
    }

    private async Task StopCoreAsync()
    {
        _stopping.Cancel();
        var stopped = new RaftException(RaftErrorCode.Stopped, "etcdserver: server stopped", Failure);
        var parts = _parts ?? throw new InvalidOperationException("broken invariant: stopping a member that never started");
        try
        {
            await parts.Reads.StopAsync().ConfigureAwait(false);
            await _publish.ConfigureAwait(false);
            await parts.Runner.StopAsync().ConfigureAwait(false);
            await parts.Apply.StopAsync().ConfigureAwait(false);
            if (parts.Transport is IAsyncDisposable d)
                await d.DisposeAsync().ConfigureAwait(false);
            else if (parts.Transport is IDisposable sd)
                sd.Dispose();
        }
        catch (Exception ex)
        {
            log.LogError(ex, "error while stopping");
        }
        finally
        {
            try
            {
                parts.Storage.Close();
            }
            catch (Exception ex)
            {
                log.LogError(ex, "failed to close the WAL");
            }
            parts.Waits.FailAll(stopped);
            parts.AppliedWait.Stop(stopped);
            parts.SavedCommit.Stop(stopped);
            log.LogInformation("stopped member {Id:x}", self);
            if (Failure is { } f and not RaftException { Code: RaftErrorCode.Stopped })
                _stopped.TrySetException(f);
            else
                _stopped.TrySetResult();
        }
    }
}
