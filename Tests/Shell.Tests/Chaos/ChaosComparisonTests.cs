using Raft.Shell.Tests.Storage;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Chaos;

/// <summary>
/// The comparison profile (SIGKILL of the leader, SIGSTOP of the leader, the leader cut off by
/// iptables) run against etcd 3.4 and against <c>raft serve</c> by the same harness: same schedule
/// for the same seed, same clients, same linearizability check, same figures (saved as JSON under
/// TestResults/chaos-figures; bench/chaos-vs-etcd.sh puts them side by side). etcd's history must
/// pass our check as ours must: a rejection would mean its gateway answers are misread or the check
/// is wrong. Each run takes about 35 s with the default RAFT_CHAOS_SECONDS=20.
/// </summary>
[Collection(ProcessCollection.Name)]
public class ChaosComparisonTests(ITestOutputHelper output)
{
    /// <summary>The faults of the comparison: each one costs the cluster its leader.</summary>
    internal static readonly FaultKind[] Profile = [FaultKind.KillLeader, FaultKind.PauseLeader, FaultKind.IsolateLeader];

    [Fact]
    public Task Etcd34UnderTheComparisonProfile() =>
        ChaosTests.RunProfileAsync(output, MemberFlavour.Etcd, "compare", 3, partitions: true, Profile);

    [Fact]
    public Task RaftServeUnderTheComparisonProfile() =>
        ChaosTests.RunProfileAsync(output, MemberFlavour.Raft, "compare", 3, partitions: true, Profile);
}
