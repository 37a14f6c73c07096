using Raft.Shell.Transport;

namespace Raft.Shell.Tests.Transport;

public class MembersRequestTests
{
    private sealed class Source(byte[] answer) : IMembershipSource
    {
        public byte[] MembershipJson() => answer;
    }

    private sealed class RaftWithMembers(byte[] answer) : ForwardingRaft(new RecordingRaft()), IMembershipSource
    {
        public byte[] MembershipJson() => new Source(answer).MembershipJson();
    }

    private static async Task<(PeerTransport Transport, string Url)> Listen(ITransportRaft raft)
    {
        var t = new PeerTransport(new PeerTransportOptions { MemberId = 1, ClusterId = 7, ListenPeerUrls = ["http://127.0.0.1:0"] }, raft);
        await t.StartAsync();
        return (t, $"http://127.0.0.1:{t.ListenEndpoints[0].Port}");
    }

    [Fact]
    public async Task AnswersWithoutAskingWhoIsAsking()
    {
        var (t, url) = await Listen(new RaftWithMembers([1, 2, 3]));
        await using var _ = t;
        Assert.Equal(new byte[] { 1, 2, 3 }, await MembersRequest.FetchAsync(url, TimeSpan.FromSeconds(30), default));
    }

    [Fact]
    public async Task RefusedWhenTheNodeHasNoMembershipToGive()
    {
        var (t, url) = await Listen(new RecordingRaft());
        await using var _ = t;
        var ex = await Assert.ThrowsAsync<IOException>(() => MembersRequest.FetchAsync(url, TimeSpan.FromSeconds(30), default));
        Assert.Contains("unsupported stream type", ex.Message);
    }
}

/// <summary>Forwards every ITransportRaft call, so a test can add an interface to an existing raft side.</summary>
internal class ForwardingRaft(ITransportRaft inner) : ITransportRaft
{
    public bool TryProcess(Raft.Core.Message message) => inner.TryProcess(message);
    public bool IsIdRemoved(ulong id) => inner.IsIdRemoved(id);
    public void ReportUnreachable(ulong id) => inner.ReportUnreachable(id);
    public void ReportSnapshot(ulong id, Raft.Core.SnapshotStatus status) => inner.ReportSnapshot(id, status);
    public void ReportRemoved(ulong reportedBy) => inner.ReportRemoved(reportedBy);
}
