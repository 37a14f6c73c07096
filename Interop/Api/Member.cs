namespace Raft.Interop;

/// <summary>A cluster member as recorded in the replicated membership.</summary>
/// <param name="Id">Member id.</param>
/// <param name="Name">Human-readable name (empty until the member has started, as in etcd).</param>
/// <param name="PeerUrls">URLs other members reach it on.</param>
/// <param name="ClientUrls">URLs clients reach it on (empty until it has published them).</param>
/// <param name="IsLearner">Whether it is a non-voting learner.</param>
public sealed record Member(ulong Id, string Name, IReadOnlyList<string> PeerUrls, IReadOnlyList<string> ClientUrls, bool IsLearner);
