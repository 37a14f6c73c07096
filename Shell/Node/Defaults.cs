namespace Raft.Shell.Node;

/// <summary>etcd's fixed numbers that the node uses.</summary>
internal static class Defaults
{
    /// <summary>Entries kept in memory after a snapshot for slow followers (DefaultSnapshotCatchUpEntries).</summary>
    public const ulong SnapshotCatchUpEntries = 5000;

    /// <summary>MsgSnaps the apply side may hold (maxInFlightMsgSnap).</summary>
    public const int MaxInFlightMsgSnap = 16;

    /// <summary>How long compaction stays paused after a snapshot was sent (releaseDelayAfterSnapshot).</summary>
    public static readonly TimeSpan ReleaseDelayAfterSnapshot = TimeSpan.FromSeconds(30);

    /// <summary>How often the read loop re-sends an unanswered ReadIndex (readIndexRetryTime).</summary>
    public static readonly TimeSpan ReadIndexRetryTime = TimeSpan.FromMilliseconds(500);

    /// <summary>Messages received but not yet stepped, beyond which new ones are dropped (recvc's size).</summary>
    public const int MaxPendingMessages = 4096;
}
