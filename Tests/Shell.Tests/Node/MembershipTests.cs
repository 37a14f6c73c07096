using System.Text;
using Raft.Shell.Node;
using Raft.Shell.Node.Membership;

namespace Raft.Shell.Tests.Node;

public class MembershipTests
{
    [Fact]
    public void MemberAndClusterIdsMatchEtcdsForItsDefaultMember()
    {
        // etcd started with no flags reports member 8e9e05c52164694d in cluster cdf818194e3a8c32.
        var id = MemberIds.ComputeMemberId(["http://localhost:2380"], "etcd-cluster");
        Assert.Equal("8e9e05c52164694d", MemberIds.Format(id));
        Assert.Equal("cdf818194e3a8c32", MemberIds.Format(MemberIds.ComputeClusterId([id])));
    }

    [Fact]
    public void MemberIdDependsOnSortedUrlsTokenAndTime()
    {
        var a = MemberIds.ComputeMemberId(["http://a:1", "http://b:2"], "t");
        Assert.NotEqual(a, MemberIds.ComputeMemberId(["http://a:1", "http://b:2"], "u"));
        Assert.NotEqual(a, MemberIds.ComputeMemberId(["http://a:1", "http://b:2"], "t", DateTimeOffset.FromUnixTimeSeconds(1)));
        Assert.Equal(MemberIds.ComputeClusterId([1UL, 2UL]), MemberIds.ComputeClusterId([2UL, 1UL]));
    }

    [Fact]
    public void InitialClusterParsesEtcdsForm()
    {
        var c = InitialCluster.TryParse("b=http://127.0.0.1:2,a=http://127.0.0.1:1,a=http://127.0.0.1:0", out var error);
        Assert.Null(error);
        Assert.NotNull(c);
        Assert.Equal(["a", "b"], c.Members.Keys);
        Assert.Equal(["http://127.0.0.1:0", "http://127.0.0.1:1"], c.Members["a"]);
    }

    [Theory]
    [InlineData("a", "want name=url")]
    [InlineData("a=ftp://x:1", "scheme")]
    [InlineData("a=http://x", "host:port")]
    [InlineData("a=http://x:1/path", "path")]
    [InlineData("a=http://x:1,b=http://x:1", "duplicate")]
    public void InitialClusterErrorsSayWhatIsWrong(string text, string expected)
    {
        Assert.Null(InitialCluster.TryParse(text, out var error));
        Assert.Contains(expected, error);
    }

    [Fact]
    public void MemberJsonHasEtcdsShape()
    {
        var m = new ClusterMember(10, ["http://a:1"], false, "", []);
        Assert.Equal("{\"id\":10,\"peerURLs\":[\"http://a:1\"]}", Encoding.UTF8.GetString(m.ToJson()));
        var full = new ClusterMember(11, ["http://a:1"], true, "n", ["http://c:2"]);
        Assert.Equal("{\"id\":11,\"peerURLs\":[\"http://a:1\"],\"isLearner\":true,\"name\":\"n\",\"clientURLs\":[\"http://c:2\"]}",
            Encoding.UTF8.GetString(full.ToJson()));
        Assert.Equal("{\"id\":11,\"peerURLs\":[],\"isPromote\":true}",
            Encoding.UTF8.GetString(new ConfigChangeContext(new ClusterMember(11, [], false, "", []), true).ToJson()));
        var back = ClusterMember.FromJson(full.ToJson());
        Assert.Equal(full.Id, back.Id);
        Assert.Equal(full.PeerUrls, back.PeerUrls);
        Assert.Equal(full.ClientUrls, back.ClientUrls);
        Assert.True(back.IsLearner);
    }

    private static Raft.Core.ConfChange Cc(Raft.Core.ConfChangeType t, ulong id, byte[] ctx) => new(1, t, id, ctx);

    [Fact]
    public void ValidationFollowsEtcd()
    {
        var m1 = new ClusterMember(1, ["http://a:1"], false, "a", []);
        var view = ClusterView.Empty(9).Add(m1);
        var add = Raft.Core.ConfChangeType.ConfChangeAddNode;
        Assert.Null(view.Validate(Cc(add, 2, new ClusterMember(2, ["http://b:1"], false, "", []).ToJson())));
        Assert.Equal(MembershipError.IdExists, view.Validate(Cc(add, 1, m1.ToJson())));
        Assert.Equal(MembershipError.PeerUrlExists, view.Validate(Cc(add, 2, new ClusterMember(2, ["http://a:1"], false, "", []).ToJson())));
        Assert.Equal(MembershipError.MemberNotLearner, view.Validate(Cc(add, 1, new ConfigChangeContext(m1, true).ToJson())));
        Assert.Equal(MembershipError.IdNotFound, view.Validate(Cc(Raft.Core.ConfChangeType.ConfChangeRemoveNode, 5, [])));
        var removed = view.Remove(1);
        Assert.Equal(MembershipError.IdRemoved, removed.Validate(Cc(add, 1, m1.ToJson())));
        var learner = view.Add(new ClusterMember(3, ["http://c:1"], true, "", []));
        Assert.Equal(MembershipError.TooManyLearners,
            learner.Validate(Cc(Raft.Core.ConfChangeType.ConfChangeAddLearnerNode, 4, new ClusterMember(4, ["http://d:1"], true, "", []).ToJson())));
    }

    [Fact]
    public void SnapshotEnvelopeRoundTrips()
    {
        var view = ClusterView.Empty(77)
            .Add(new ClusterMember(1, ["http://a:1"], false, "a", ["http://ca:1"]))
            .Add(new ClusterMember(2, ["http://b:1"], true, "", []))
            .Add(new ClusterMember(3, ["http://c:1"], false, "", []))
            .Remove(3);
        var data = SnapshotEnvelope.Pack(view, [1, 2, 3]);
        var (back, sm) = SnapshotEnvelope.Unpack(data);
        Assert.Equal(77UL, back.ClusterId);
        Assert.Equal([1UL, 2UL], back.Members.Keys);
        Assert.True(back.IsRemoved(3));
        Assert.Equal("a", back.Members[1].Name);
        Assert.True(back.Members[2].IsLearner);
        Assert.Equal(new byte[] { 1, 2, 3 }, sm.ToArray());
        Assert.Throws<FormatException>(() => SnapshotEnvelope.Unpack(new byte[] { 1, 2, 3, 4, 5 }));
    }

    [Fact]
    public void RequestIdsCarryTheMemberPrefixAndIncrease()
    {
        var g = new RequestIdGenerator(0xabcd_1234, DateTimeOffset.FromUnixTimeMilliseconds(1000));
        var a = g.Next();
        var b = g.Next();
        Assert.Equal(0x1234UL, a >> 48);
        Assert.Equal(a + 1, b);
    }
}
