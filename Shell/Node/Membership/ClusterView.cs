using System.Collections.Immutable;

namespace Raft.Shell.Node.Membership;

/// <summary>
/// An immutable view of the applied membership (etcd's RaftCluster without its stores): the
/// members, the ids removed for good, and the cluster id. The apply loop builds a new view per
/// change; any thread may read the current one.
/// </summary>
/// <param name="ClusterId">The cluster's id.</param>
/// <param name="Members">Members by id.</param>
/// <param name="Removed">Ids removed from the cluster; they can never come back.</param>
internal sealed record ClusterView(ulong ClusterId, ImmutableSortedDictionary<ulong, ClusterMember> Members, ImmutableSortedSet<ulong> Removed)
{
    /// <summary>A cluster with no members yet.</summary>
    public static ClusterView Empty(ulong clusterId) =>
        new(clusterId, ImmutableSortedDictionary<ulong, ClusterMember>.Empty, ImmutableSortedSet<ulong>.Empty);

    /// <summary>The member with this id, if any.</summary>
    public ClusterMember? Member(ulong id) => Members.GetValueOrDefault(id);

    /// <summary>etcd's IsIDRemoved.</summary>
    public bool IsRemoved(ulong id) => Removed.Contains(id);

    /// <summary>The voting members (etcd's VotingMembers).</summary>
    public IEnumerable<ClusterMember> VotingMembers => Members.Values.Where(m => !m.IsLearner);

    /// <summary>
    /// etcd's ValidateConfigurationChange: null when the change may be applied, else why not.
    /// </summary>
    public MembershipError? Validate(Raft.Core.ConfChange cc)
    {
        var id = cc.NodeID;
        if (Removed.Contains(id))
            return MembershipError.IdRemoved;
        var kind = CoreAdapter.KindOf(cc.Type);
        if (kind is ConfChangeKind.AddNode or ConfChangeKind.AddLearnerNode)
        {
            var ctx = ConfigChangeContext.FromJson(cc.Context);
            if (ctx.IsPromote)
            {
                if (!Members.TryGetValue(id, out var existing))
                    return MembershipError.IdNotFound;
                if (!existing.IsLearner)
                    return MembershipError.MemberNotLearner;
                return null;
            }
            if (Members.ContainsKey(id))
                return MembershipError.IdExists;
            var urls = Members.Values.SelectMany(m => m.PeerUrls).ToHashSet(StringComparer.Ordinal);
            if (ctx.Member.PeerUrls.Any(urls.Contains))
                return MembershipError.PeerUrlExists;
            if (ctx.Member.IsLearner && Members.Values.Count(m => m.IsLearner) + 1 > MaxLearners)
                return MembershipError.TooManyLearners;
            return null;
        }
        if (kind == ConfChangeKind.RemoveNode)
            return Members.ContainsKey(id) ? null : MembershipError.IdNotFound;
        if (kind == ConfChangeKind.UpdateNode)
        {
            if (!Members.ContainsKey(id))
                return MembershipError.IdNotFound;
            var m = ClusterMember.FromJson(cc.Context);
            var urls = Members.Values.Where(x => x.Id != id).SelectMany(x => x.PeerUrls).ToHashSet(StringComparer.Ordinal);
            return m.PeerUrls.Any(urls.Contains) ? MembershipError.PeerUrlExists : null;
        }
        throw new InvalidOperationException($"broken invariant: unknown conf change type {cc.Type}");
    }

    /// <summary>etcd's maxLearners.</summary>
    public const int MaxLearners = 1;

    /// <summary>Adds a member (etcd's AddMember).</summary>
    public ClusterView Add(ClusterMember m) => this with { Members = Members.SetItem(m.Id, m) };

    /// <summary>Removes a member and remembers its id as removed (etcd's RemoveMember).</summary>
    public ClusterView Remove(ulong id) => this with { Members = Members.Remove(id), Removed = Removed.Add(id) };

    /// <summary>Turns a learner into a voter (etcd's PromoteMember).</summary>
    public ClusterView Promote(ulong id) =>
        Members.TryGetValue(id, out var m) ? this with { Members = Members.SetItem(id, m with { IsLearner = false }) } : this;

    /// <summary>Replaces a member's peer URLs (etcd's UpdateRaftAttributes).</summary>
    public ClusterView UpdatePeerUrls(ulong id, IReadOnlyList<string> peerUrls) =>
        Members.TryGetValue(id, out var m) ? this with { Members = Members.SetItem(id, m with { PeerUrls = peerUrls }) } : this;

    /// <summary>Records a member's published name and client URLs (etcd's UpdateAttributes).</summary>
    public ClusterView UpdateAttributes(ulong id, string name, IReadOnlyList<string> clientUrls) =>
        Members.TryGetValue(id, out var m) ? this with { Members = Members.SetItem(id, m with { Name = name, ClientUrls = clientUrls }) } : this;

    /// <summary>
    /// etcd's IsReadyToAddVotingMember: a majority of the cluster that <paramref name="newMemberId"/>
    /// would join must be started (Core's ReconfigQuorum).
    /// </summary>
    public bool IsReadyToAddVotingMember(ulong newMemberId) =>
        CoreAdapter.ReadyToAddVoter(VotingIds(), IsStarted, newMemberId);

    /// <summary>etcd's IsReadyToRemoveVotingMember: a majority of the voters left must be started.</summary>
    public bool IsReadyToRemoveVotingMember(ulong id) =>
        CoreAdapter.ReadyToRemoveVoter(VotingIds(), IsStarted, id);

    /// <summary>etcd's IsReadyToPromoteMember: a majority of the voters with <paramref name="learnerId"/> must be started.</summary>
    public bool IsReadyToPromoteMember(ulong learnerId) =>
        CoreAdapter.ReadyToPromote(VotingIds(), IsStarted, learnerId);

    private ulong[] VotingIds() => VotingMembers.Select(m => m.Id).ToArray();

    private bool IsStarted(ulong id) => Member(id) is { IsStarted: true };
}

/// <summary>Why a membership change is refused (etcd's membership errors).</summary>
internal enum MembershipError
{
    /// <summary>membership: ID removed.</summary>
    IdRemoved,
    /// <summary>membership: ID exists.</summary>
    IdExists,
    /// <summary>membership: ID not found.</summary>
    IdNotFound,
    /// <summary>membership: peerURL exists.</summary>
    PeerUrlExists,
    /// <summary>membership: can only promote a learner member.</summary>
    MemberNotLearner,
    /// <summary>membership: too many learner members in cluster.</summary>
    TooManyLearners,
}
