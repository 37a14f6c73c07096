namespace Raft.Kv.Http;

/// <summary>etcdserverpb.MemberAddRequest.</summary>
/// <param name="PeerUrls">The new member's peer URLs.</param>
/// <param name="IsLearner">Add it as a learner.</param>
public sealed record MemberAddRequest(IReadOnlyList<string> PeerUrls, bool IsLearner);

/// <summary>etcdserverpb.MemberRemoveRequest or MemberPromoteRequest: a member id.</summary>
/// <param name="Id">The member.</param>
public sealed record MemberIdRequest(ulong Id);

/// <summary>etcdserverpb.MemberListRequest.</summary>
/// <param name="Linearizable">Read the membership after a linearizable read barrier.</param>
public sealed record MemberListRequest(bool Linearizable);

/// <summary>etcdserverpb.MemberUpdateRequest.</summary>
/// <param name="Id">The member.</param>
/// <param name="PeerUrls">Its new peer URLs.</param>
public sealed record MemberUpdateRequest(ulong Id, IReadOnlyList<string> PeerUrls);
