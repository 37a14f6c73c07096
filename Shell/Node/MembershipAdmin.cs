using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.Interop;
using Raft.Shell.Node.Membership;

using Raft.Shell.Node.Advanced;

namespace Raft.Shell.Node;

/// <summary>
/// Membership administration (etcd's AddMember, RemoveMember, PromoteMember, UpdateMember, MoveLeader): the
/// strict reconfiguration checks, proposing the conf change and waiting until it is applied here.
/// </summary>
internal sealed class MembershipAdmin(
    RaftNodeOptions options,
    ulong self,
    Func<ClusterView> cluster,
    IPeerTransport transport,
    RaftRunner runner,
    Proposer proposer,
    RequestIdGenerator ids,
    RequestWaits waits,
    LeaderState leader,
    NodeLifecycle lifecycle,
    ILogger log)
{
    public async Task<Interop.Member> AddMemberAsync(IReadOnlyList<string> peerUrls, bool isLearner, CancellationToken cancellationToken)
    {
        lifecycle.ThrowIfStopping();
        var urls = PeerUrls.TryParse(peerUrls, out var error) ?? throw new ArgumentException(error, nameof(peerUrls));
        // etcd's member add: the id mixes in the time, so a member added again gets a new id.
        var member = new ClusterMember(MemberIds.ComputeMemberId(urls, "", DateTimeOffset.UtcNow), urls, isLearner, "", []);
        if (options.StrictReconfigCheck && !isLearner)
        {
            if (!cluster().IsReadyToAddVotingMember(member.Id))
                throw new RaftException(RaftErrorCode.Unhealthy, "etcdserver: re-configuration failed due to not enough started members");
            if (!IsConnectedToAllVoters())
                throw new RaftException(RaftErrorCode.Unhealthy, "etcdserver: unhealthy cluster");
        }
        var type = isLearner ? ConfChangeType.ConfChangeAddLearnerNode : ConfChangeType.ConfChangeAddNode;
        var result = await ConfigureAsync(type, member.Id, member.ToJson(), cancellationToken).ConfigureAwait(false);
        return (result.Cluster.Member(member.Id) ?? member).ToApi();
    }

    public async Task RemoveMemberAsync(ulong memberId, CancellationToken cancellationToken)
    {
        lifecycle.ThrowIfStopping();
        if (options.StrictReconfigCheck)
            MayRemoveMember(memberId);
        await ConfigureAsync(ConfChangeType.ConfChangeRemoveNode, memberId, [], cancellationToken).ConfigureAwait(false);
    }

    public async Task PromoteMemberAsync(ulong memberId, CancellationToken cancellationToken)
    {
        lifecycle.ThrowIfStopping();
        IsLearnerReady(memberId);
        if (options.StrictReconfigCheck && !cluster().IsReadyToPromoteMember(memberId))
            throw new RaftException(RaftErrorCode.Unhealthy, "etcdserver: re-configuration failed due to not enough started members");
        var ctx = new ConfigChangeContext(new ClusterMember(memberId, [], false, "", []), IsPromote: true);
        await ConfigureAsync(ConfChangeType.ConfChangeAddNode, memberId, ctx.ToJson(), cancellationToken).ConfigureAwait(false);
    }

    public async Task UpdateMemberAsync(ulong memberId, IReadOnlyList<string> peerUrls, CancellationToken cancellationToken)
    {
        lifecycle.ThrowIfStopping();
        var urls = PeerUrls.TryParse(peerUrls, out var error) ?? throw new ArgumentException(error, nameof(peerUrls));
        // etcd's UpdateMember: the conf change's context is the member with its new peer URLs only.
        var member = new ClusterMember(memberId, urls, false, "", []);
        await ConfigureAsync(ConfChangeType.ConfChangeUpdateNode, memberId, member.ToJson(), cancellationToken).ConfigureAwait(false);
    }

    public async Task TransferLeadershipAsync(ulong transferee, CancellationToken cancellationToken)
    {
        lifecycle.ThrowIfStopping();
        if (cluster().Member(transferee) is not { IsLearner: false })
            throw new RaftException(RaftErrorCode.MemberNotFound, "etcdserver: bad leader transferee");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifecycle.Stopping);
        timeout.CancelAfter(options.RequestTimeout);
        try
        {
            while (leader.Lead != transferee)
            {
                var changed = leader.LeaderChanged;
                runner.Post(new TransferLeaderInput(transferee));
                // Re-ask every election timeout: a transfer that did not finish in one is aborted by raft.
                await Task.WhenAny(changed, Task.Delay(TimeSpan.FromMilliseconds(options.ElectionTimeoutMs), timeout.Token))
                    .ConfigureAwait(false);
                timeout.Token.ThrowIfCancellationRequested();
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            lifecycle.ThrowIfStopping();
            throw new RaftException(RaftErrorCode.Timeout, "etcdserver: request timed out, leader transfer took too long");
        }
    }

    /// <summary>etcd's configure: propose a conf change and wait until it is applied here.</summary>
    private async Task<ConfChangeResult> ConfigureAsync(ConfChangeType type, ulong nodeId, byte[] context, CancellationToken ct)
    {
        var cc = new ConfChange(ids.Next(), type, nodeId, context);
        var input = new ProposeInput(cc, waits.RegisterSource(cc.ID));
        try
        {
            var result = (ConfChangeResult?)await proposer.RunAsync(input, ct).ConfigureAwait(false)
                ?? throw new InvalidOperationException("broken invariant: conf change applied without a result");
            if (result.Error is { } refused)
                throw MembershipException(refused);
            log.LogInformation("applied a configuration change through raft: {Type} {Node:x}", type, nodeId);
            return result;
        }
        finally
        {
            waits.Forget(cc.ID);
        }
    }

    private static RaftException MembershipException(MembershipError e) => e switch
    {
        MembershipError.IdRemoved => new RaftException(RaftErrorCode.MemberNotFound, "membership: ID removed"),
        MembershipError.IdExists => new RaftException(RaftErrorCode.PeerUrlExists, "membership: ID exists"),
        MembershipError.IdNotFound => new RaftException(RaftErrorCode.MemberNotFound, "membership: ID not found"),
        MembershipError.PeerUrlExists => new RaftException(RaftErrorCode.PeerUrlExists, "membership: peerURL exists"),
        MembershipError.MemberNotLearner => new RaftException(RaftErrorCode.MemberNotLearner, "membership: can only promote a learner member"),
        _ => new RaftException(RaftErrorCode.Unhealthy, "membership: too many learner members in cluster"),
    };

    private DateTimeOffset HealthySince => DateTimeOffset.UtcNow - TimeSpan.FromMilliseconds(options.HealthIntervalMs);

    /// <summary>etcd's isConnectedFullySince(now - HealthInterval) over the voting members.</summary>
    private bool IsConnectedToAllVoters()
    {
        var since = HealthySince;
        return cluster().VotingMembers.Where(m => m.Id != self).All(m => transport.ActiveSince(m.Id) is { } t && t <= since);
    }

    /// <summary>etcd's mayRemoveMember; the quorum rule is Core's.</summary>
    private void MayRemoveMember(ulong id)
    {
        var view = cluster();
        if (view.Member(id) is { IsLearner: true })
            return;
        if (!view.IsReadyToRemoveVotingMember(id))
            throw new RaftException(RaftErrorCode.Unhealthy, "etcdserver: re-configuration failed due to not enough started members");
        // A member that is down is not part of the active quorum and is safe to remove.
        if (id != self && transport.ActiveSince(id) is null)
            return;
        var since = HealthySince;
        if (!CoreAdapter.MayRemoveActive(view.VotingMembers.Select(m => m.Id), m => m == self || transport.ActiveSince(m) is { } t && t <= since, id))
            throw new RaftException(RaftErrorCode.Unhealthy, "etcdserver: unhealthy cluster");
    }

    /// <summary>etcd's isLearnerReady: only the leader knows; a learner must have 90% of the leader's match.</summary>
    private void IsLearnerReady(ulong id)
    {
        var match = CoreAdapter.Match(runner.Current, id, out var isLeader);
        if (!isLeader)
            throw new RaftException(RaftErrorCode.NotLeader, "etcdserver: not leader");
        if (match is { } m && m.PeerMatch < m.LeaderMatch * 0.9)
            throw new RaftException(RaftErrorCode.LearnerNotReady, "etcdserver: can only promote a learner member which is in sync with leader");
    }
}
