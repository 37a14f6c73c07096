using System.Text.Json.Nodes;
using dotnet_etcd;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;

namespace Raft.Shell.Tests.Grpc;

/// <summary>
/// dotnet-etcd 10, the most used .NET etcd client, against one <c>raft serve</c> process over gRPC;
/// its answers compared with the JSON gateway's for the same state.
/// </summary>
[Collection(ProcessCollection.Name)]
public class DotnetEtcdTests
{
    private static string Text(Google.Protobuf.ByteString b) => b.ToStringUtf8();

    [Fact]
    public async Task DotnetEtcdPutsGetsDeletesAndReadsMembersAndStatus()
    {
        using var cluster = new ProcessCluster(1, "--heartbeat-interval", "20", "--election-timeout", "200");
        var m = await EtcdctlSingleMemberTests.StartAsync(cluster);
        using var client = new EtcdClient(m.ClientUrl);

        var put = await client.PutAsync("app/a", "1");
        await client.PutAsync("app/b", "2");
        await client.PutAsync("other", "3");
        var gwA = await GatewayJson.PostAsync(m, "/v3/kv/range", $"{{\"key\":\"{GatewayClient.B64("app/a")}\"}}");
        Assert.Equal(gwA["kvs"]![0]!["mod_revision"]!.GetValue<string>(), put.Header.Revision.ToString());
        Assert.Equal(m.Id, put.Header.MemberId);
        Assert.Equal(m.ClusterId, put.Header.ClusterId);

        Assert.Equal("1", await client.GetValAsync("app/a"));
        var range = await client.GetRangeAsync("app/");
        var gwRange = await GatewayJson.PostAsync(m, "/v3/kv/range",
            $"{{\"key\":\"{GatewayClient.B64("app/")}\",\"range_end\":\"{GatewayClient.B64("app0")}\"}}");
        Assert.Equal(gwRange["count"]!.GetValue<string>(), range.Count.ToString());
        Assert.Equal(gwRange["header"]!["revision"]!.GetValue<string>(), range.Header.Revision.ToString());
        Assert.Equal(
            gwRange["kvs"]!.AsArray().Select(kv => (GatewayClient.Text(kv!["key"]!.GetValue<string>()), GatewayClient.Text(kv["value"]!.GetValue<string>()),
                kv["create_revision"]!.GetValue<string>(), kv["mod_revision"]!.GetValue<string>(), kv["version"]!.GetValue<string>())),
            range.Kvs.Select(kv => (Text(kv.Key), Text(kv.Value), kv.CreateRevision.ToString(), kv.ModRevision.ToString(), kv.Version.ToString())));

        var deleted = await client.DeleteAsync("app/a");
        Assert.Equal(1, deleted.Deleted);
        Assert.Equal("", await client.GetValAsync("app/a"));
        Assert.Null((await GatewayJson.PostAsync(m, "/v3/kv/range", $"{{\"key\":\"{GatewayClient.B64("app/a")}\"}}"))["kvs"]);

        var members = await client.MemberListAsync(new Etcdserverpb.MemberListRequest());
        var gwMembers = (await GatewayJson.PostAsync(m, "/v3/cluster/member/list", "{}"))["members"]!.AsArray();
        Assert.Equal(
            gwMembers.Select(x => (x!["ID"]!.GetValue<string>(), x["name"]!.GetValue<string>(), string.Join(",", x["peerURLs"]!.AsArray().Select(u => u!.GetValue<string>())))),
            members.Members.Select(x => (x.ID.ToString(), x.Name, string.Join(",", x.PeerURLs))));

        var status = await client.StatusAsync(new Etcdserverpb.StatusRequest());
        var gwStatus = await GatewayJson.PostAsync(m, "/v3/maintenance/status", "{}");
        Assert.Equal(gwStatus["leader"]!.GetValue<string>(), status.Leader.ToString());
        Assert.Equal(gwStatus["raftIndex"]!.GetValue<string>(), status.RaftIndex.ToString());
        Assert.Equal(gwStatus["version"]!.GetValue<string>(), status.Version);
        Assert.Equal(gwStatus["header"]!["revision"]!.GetValue<string>(), status.Header.Revision.ToString());

        // An etcd error arrives as etcd's status code and text.
        var error = await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(() => client.PutAsync("", "x"));
        Assert.Equal(global::Grpc.Core.StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("etcdserver: key is not provided", error.Status.Detail);
    }
}
