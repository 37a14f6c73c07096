using System.Net;
using System.Text;
using System.Text.Json;
using Raft.Kv;
using Raft.Shell.Node;

namespace Raft.Shell.Tests.Kv;

/// <summary>The HTTP API over a real single-member <see cref="RaftNode"/> (WAL and snapshots on disk in a temp directory).</summary>
public class KvOverRaftNodeTests
{
    private static RaftNodeOptions Options(string dataDir) => new()
    {
        Name = "kv1",
        DataDir = dataDir,
        HeartbeatIntervalMs = 10,
        ElectionTimeoutMs = 100,
        SnapshotCount = 8,
        SnapshotCatchUpEntries = 2,
        // Any free port: etcd's default 2380 may be taken by a member running on the machine.
        ListenPeerUrls = "http://127.0.0.1:0",
    };

    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    private static JsonElement Json(string body) => JsonDocument.Parse(body).RootElement.Clone();

    [Fact]
    public async Task WritesAreAnsweredWithAppliedResultsAndSurviveARestartThroughSnapshots()
    {
        using var dir = new TempDir();
        string countAll = "{\"key\":\"AA==\",\"range_end\":\"AA==\",\"count_only\":true}";
        var store = new KvStateMachine();
        await using (var node = await RaftNode.StartAsync(Options(dir.Path), store))
        {
            await using var server = await KvTestServer.StartAsync(node, store);
            for (var i = 0; i < 30; i++)
            {
                var (status, body) = await server.PostAsync("/v3/kv/put", $"{{\"key\":\"{B64("k" + (i % 10))}\",\"value\":\"{B64("v" + i)}\",\"prev_kv\":true}}");
                Assert.Equal(200, status);
                var header = Json(body).GetProperty("header");
                Assert.Equal((i + 2).ToString(), header.GetProperty("revision").GetString());
                Assert.Equal(node.ClusterId.ToString(), header.GetProperty("cluster_id").GetString());
                Assert.Equal(node.MemberId.ToString(), header.GetProperty("member_id").GetString());
                Assert.Equal(i >= 10, Json(body).TryGetProperty("prev_kv", out _));
            }
            var (_, deleted) = await server.PostAsync("/v3/kv/deleterange", $"{{\"key\":\"{B64("k0")}\",\"range_end\":\"{B64("k5")}\"}}");
            Assert.Equal("5", Json(deleted).GetProperty("deleted").GetString());

            var (rangeStatus, range) = await server.PostAsync("/v3/kv/range", $"{{\"key\":\"{B64("k7")}\"}}");
            Assert.Equal(200, rangeStatus);
            var kv = Json(range).GetProperty("kvs")[0];
            Assert.Equal(B64("v27"), kv.GetProperty("value").GetString());
            Assert.Equal("3", kv.GetProperty("version").GetString());
            Assert.Equal("9", kv.GetProperty("create_revision").GetString());

            var health = await server.GetAsync("/health");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            var (_, members) = await server.PostAsync("/v3/cluster/member/list", "{\"linearizable\":true}");
            Assert.Equal(node.MemberId.ToString(), Json(members).GetProperty("members")[0].GetProperty("ID").GetString());
            Assert.Equal("5", Json((await server.PostAsync("/v3/kv/range", countAll)).Body).GetProperty("count").GetString());
            Assert.True(node.Status.SnapshotIndex > 0);
        }

        // A restart restores the store from the newest snapshot and replays the WAL after it.
        var restored = new KvStateMachine();
        await using var again = await RaftNode.StartAsync(Options(dir.Path), restored);
        await using var server2 = await KvTestServer.StartAsync(again, restored);
        var (_, all) = await server2.PostAsync("/v3/kv/range", countAll);
        Assert.Equal("5", Json(all).GetProperty("count").GetString());
        Assert.Equal("32", Json(all).GetProperty("header").GetProperty("revision").GetString());
        var (_, next) = await server2.PostAsync("/v3/kv/put", $"{{\"key\":\"{B64("k7")}\",\"value\":\"{B64("x")}\"}}");
        Assert.Equal("33", Json(next).GetProperty("header").GetProperty("revision").GetString());
    }
}
