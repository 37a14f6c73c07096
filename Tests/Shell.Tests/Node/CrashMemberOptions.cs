using Raft.Shell.Node;

namespace Raft.Shell.Tests.Node;

/// <summary>
/// The options of the one-member cluster that the crash tests run in a child process and restart
/// in the test's own: the same member both times.
/// </summary>
internal static class CrashMemberOptions
{
    public static RaftNodeOptions For(string dataDir, string peerUrl) => new()
    {
        Name = "n1",
        DataDir = dataDir,
        ListenPeerUrls = peerUrl,
        InitialAdvertisePeerUrls = peerUrl,
        InitialCluster = $"n1={peerUrl}",
        HeartbeatIntervalMs = 20,
        ElectionTimeoutMs = 200,
        SnapshotCount = 25,
        SnapshotCatchUpEntries = 5,
    };
}
