namespace Raft.Interop;

/// <summary>
/// What a leader's progress tracker holds for one member (etcd's tracker.Progress), as a leader
/// sees it; members other than the leader track none.
/// </summary>
/// <param name="Id">The member.</param>
/// <param name="Match">The highest index known to be in the member's log.</param>
/// <param name="Next">The next index the leader sends it.</param>
/// <param name="State">etcd's state name: <c>StateProbe</c>, <c>StateReplicate</c> or <c>StateSnapshot</c>.</param>
/// <param name="Inflight">Append messages sent and not yet acknowledged.</param>
/// <param name="InflightCapacity">The most append messages allowed in flight (MaxInflightMsgs).</param>
/// <param name="Paused">Sending is throttled: a probe is outstanding, the window is full, or a snapshot is pending.</param>
/// <param name="RecentActive">Heard from within the last election timeout (reset under CheckQuorum).</param>
/// <param name="PendingSnapshot">In StateSnapshot, the index of the snapshot being sent; else 0.</param>
/// <param name="IsLearner">The member is a learner.</param>
public sealed record PeerProgress(
    ulong Id,
    ulong Match,
    ulong Next,
    string State,
    int Inflight,
    int InflightCapacity,
    bool Paused,
    bool RecentActive,
    ulong PendingSnapshot,
    bool IsLearner);
