using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.Shell.Node.Membership;

using Raft.Shell.Node.Advanced;

namespace Raft.Shell.Node;

/// <summary>
/// The membership side of applying (etcd's applyConfChange and the member-attributes request):
/// validates and applies committed conf changes to the cluster view, raft (through the runner) and
/// the transport, and answers their proposers. Used on the apply loop's thread only.
/// </summary>
internal sealed class MembershipApplier(
    ulong self,
    ClusterView cluster,
    ConfState confState,
    RaftRunner runner,
    IPeerTransport transport,
    RequestWaits waits,
    NodeMetrics metrics,
    ILogger log,
    IApplySink sink)
{
    private volatile ClusterView _cluster = cluster;

    /// <summary>The applied membership.</summary>
    public ClusterView Cluster => _cluster;

    /// <summary>Raft's configuration as of the applied index (etcd's etcdProgress.confState).</summary>
    public ConfState ConfState { get; private set; } = confState;

    /// <summary>A snapshot was restored: its membership replaces the applied one, and the transport follows it.</summary>
    public void Restore(ClusterView restored, ConfState confState)
    {
        Publish(restored);
        ConfState = confState;
        transport.RemoveAllPeers();
        foreach (var member in restored.Members.Values)
            if (member.Id != self)
                transport.AddPeer(member.Id, member.PeerUrls);
    }

    /// <summary>A member published its name and client URLs (etcd's attributes request).</summary>
    public void ApplyAttributes(ulong requestId, ReadOnlySpan<byte> payload)
    {
        var (memberId, name, clientUrls) = EntryData.ParseMemberAttributes(payload);
        if (_cluster.Member(memberId) is not null)
            Publish(_cluster.UpdateAttributes(memberId, name, clientUrls));
        waits.Trigger(requestId, null);
    }

    /// <summary>etcd's applyConfChange; true when it removed this member.</summary>
    public bool ApplyConfChange(Entry e)
    {
        var cc = CoreAdapter.DecodeConfChange(e);
        var error = _cluster.Validate(cc);
        if (error is { } refused)
        {
            // Raft still has to see the change, as a no-op (node id 0).
            AskRunner(new ConfChange(cc.ID, cc.Type, 0UL, cc.Context));
            waits.Trigger(cc.ID, new ConfChangeResult(_cluster, refused));
            return false;
        }

        ConfState = AskRunner(cc);
        var removedSelf = false;
        var id = cc.NodeID;
        switch (CoreAdapter.KindOf(cc.Type))
        {
            case ConfChangeKind.AddNode:
            case ConfChangeKind.AddLearnerNode:
                var ctx = ConfigChangeContext.FromJson(cc.Context);
                if (ctx.Member.Id != id)
                    throw new InvalidOperationException($"broken invariant: got different member ID: {id:x} in the conf change, {ctx.Member.Id:x} in its context");
                if (ctx.IsPromote)
                {
                    _cluster = _cluster.Promote(id);
                }
                else
                {
                    _cluster = _cluster.Add(ctx.Member);
                    if (id != self)
                        transport.AddPeer(id, ctx.Member.PeerUrls);
                }
                log.LogInformation("added member {Id:x} {PeerUrls} (promote: {Promote})", id, ctx.Member.PeerUrls, ctx.IsPromote);
                if (id == self)
                    metrics.SetLearner(CoreAdapter.KindOf(cc.Type) == ConfChangeKind.AddLearnerNode && !ctx.IsPromote);
                break;
            case ConfChangeKind.RemoveNode:
                _cluster = _cluster.Remove(id);
                log.LogInformation("removed member {Id:x}", id);
                if (id == self)
                    removedSelf = true;
                else
                    transport.RemovePeer(id);
                break;
            case ConfChangeKind.UpdateNode:
                var m = ClusterMember.FromJson(cc.Context);
                if (m.Id != id)
                    throw new InvalidOperationException($"broken invariant: got different member ID: {id:x} in the conf change, {m.Id:x} in its context");
                _cluster = _cluster.UpdatePeerUrls(id, m.PeerUrls);
                if (id != self)
                    transport.UpdatePeer(id, m.PeerUrls);
                break;
        }
        sink.OnCluster(_cluster);
        waits.Trigger(cc.ID, new ConfChangeResult(_cluster, null));
        return removedSelf;
    }

    private void Publish(ClusterView view)
    {
        _cluster = view;
        sink.OnCluster(view);
    }

    /// <summary>RawNode.applyConfChange through the runner, which owns the node.</summary>
    private ConfState AskRunner(ConfChange cc)
    {
        var req = new ApplyConfChangeRequest(cc);
        runner.PostFromApply(req);
        return req.Done.Task.GetAwaiter().GetResult();
    }
}
