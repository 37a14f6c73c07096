using System.Text.Json.Nodes;
using dotnet_etcd;
using Google.Protobuf;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;

namespace Raft.Shell.Tests.Grpc;

/// <summary>
/// etcdctl 3.4's txn, compaction and alarm commands against one <c>raft serve</c> process over
/// gRPC (Txn, Compact and Alarm of the MVCC store), and a txn etcdctl cannot write (compares over a
/// range, a nested txn) through dotnet-etcd.
/// </summary>
[Collection(ProcessCollection.Name)]
public class EtcdctlTxnCompactionAlarmTests
{
    private static async Task<string> ValueAsync(string[] at, string key) =>
        (await Etcdctl.OkAsync(at, "get", key, "--print-value-only")).Stdout.Trim();

    private static async Task<long> RevisionAsync(string[] at) =>
        (await Etcdctl.OkAsync(at, "get", "none", "-w", "json")).Json["header"]!["revision"]!.GetValue<long>();

    [Fact]
    public async Task EtcdctlTxnRunsTheBranchItsComparesChoose()
    {
        Etcdctl.Require();
        using var cluster = new ProcessCluster(1, "--heartbeat-interval", "20", "--election-timeout", "200");
        var m = await EtcdctlSingleMemberTests.StartAsync(cluster);
        string[] at = [m.ClientUrl];
        await Etcdctl.OkAsync(at, "put", "k1", "v1");
        await Etcdctl.OkAsync(at, "put", "k2", "v2");
        var before = await RevisionAsync(at);

        // Every compare holds: the success branch runs, at one new revision.
        var success = await Etcdctl.RunWithInputAsync(at, "value(\"k1\") = \"v1\"\nmod(\"k2\") > \"0\"\nversion(\"k2\") = \"1\"\n\nput k3 yes\nget k1\n\nput k3 no\n\n", "txn", "-w", "json");
        Assert.True(success.Ok, success.ToString());
        Assert.True(success.Json["succeeded"]!.GetValue<bool>(), success.ToString());
        Assert.Equal(before + 1, success.Json["header"]!["revision"]!.GetValue<long>());
        var responses = success.Json["responses"]!.AsArray();
        Assert.Equal(2, responses.Count);
        // The get's answer holds k1's value ("v1" in base64; Go prints the oneof by its field names).
        Assert.Contains("\"value\":\"djE=\"", responses[1]!.ToJsonString());
        Assert.Equal("yes", await ValueAsync(at, "k3"));

        // One compare fails: the failure branch runs (a put and a delete), printed as etcdctl prints it.
        var failure = await Etcdctl.RunWithInputAsync(at, "value(\"k1\") = \"v1\"\nvalue(\"k2\") = \"other\"\n\nput k4 yes\n\nput k4 no\ndel k2\n\n", "txn");
        Assert.True(failure.Ok, failure.ToString());
        Assert.StartsWith("FAILURE", failure.Stdout.Trim());
        Assert.Equal("no", await ValueAsync(at, "k4"));
        Assert.Equal("", await ValueAsync(at, "k2"));

        // The gateway reads the txn's writes at the same revision.
        var gw = await GatewayJson.PostAsync(m, "/v3/kv/range", $"{{\"key\":\"{GatewayClient.B64("k4")}\"}}");
        Assert.Equal((before + 2).ToString(), gw["kvs"]![0]!["mod_revision"]!.GetValue<string>());
    }

    [Fact]
    public async Task GrpcTxnComparesOverARangeAndNests()
    {
        using var cluster = new ProcessCluster(1, "--heartbeat-interval", "20", "--election-timeout", "200");
        var m = await EtcdctlSingleMemberTests.StartAsync(cluster);
        using var client = new EtcdClient(m.ClientUrl);
        await client.PutAsync("app/a", "1");
        await client.PutAsync("app/b", "1");
        await client.PutAsync("app/c", "2");

        Etcdserverpb.TxnRequest Txn(string value)
        {
            // Every key of app/ must hold the value; the success branch is a txn of its own.
            var txn = new Etcdserverpb.TxnRequest();
            txn.Compare.Add(new Etcdserverpb.Compare
            {
                Key = ByteString.CopyFromUtf8("app/"), RangeEnd = ByteString.CopyFromUtf8("app0"),
                Target = Etcdserverpb.Compare.Types.CompareTarget.Value, Result = Etcdserverpb.Compare.Types.CompareResult.Equal,
                Value = ByteString.CopyFromUtf8(value),
            });
            var nested = new Etcdserverpb.TxnRequest();
            nested.Compare.Add(new Etcdserverpb.Compare
            {
                Key = ByteString.CopyFromUtf8("app/a"), Target = Etcdserverpb.Compare.Types.CompareTarget.Version,
                Result = Etcdserverpb.Compare.Types.CompareResult.Greater, Version = 0,
            });
            nested.Success.Add(new Etcdserverpb.RequestOp { RequestPut = new Etcdserverpb.PutRequest { Key = ByteString.CopyFromUtf8("nested"), Value = ByteString.CopyFromUtf8(value) } });
            txn.Success.Add(new Etcdserverpb.RequestOp { RequestTxn = nested });
            txn.Failure.Add(new Etcdserverpb.RequestOp { RequestRange = new Etcdserverpb.RangeRequest { Key = ByteString.CopyFromUtf8("app/"), RangeEnd = ByteString.CopyFromUtf8("app0") } });
            return txn;
        }

        // app/c differs: the compare over the range fails and the failure branch reads the range.
        var failed = await client.TransactionAsync(Txn("1"));
        Assert.False(failed.Succeeded);
        Assert.Equal(3, failed.Responses[0].ResponseRange.Count);
        Assert.Equal("", await client.GetValAsync("nested"));

        await client.PutAsync("app/c", "1");
        var done = await client.TransactionAsync(Txn("1"));
        Assert.True(done.Succeeded);
        Assert.True(done.Responses[0].ResponseTxn.Succeeded);
        Assert.Equal(done.Header.Revision, done.Responses[0].ResponseTxn.Responses[0].ResponsePut.Header.Revision);
        Assert.Equal("1", await client.GetValAsync("nested"));
        var gw = await GatewayJson.PostAsync(m, "/v3/kv/range", $"{{\"key\":\"{GatewayClient.B64("nested")}\"}}");
        Assert.Equal(done.Header.Revision.ToString(), gw["kvs"]![0]!["mod_revision"]!.GetValue<string>());
    }

    [Fact]
    public async Task EtcdctlCompactionMakesOlderRevisionsUnreadable()
    {
        Etcdctl.Require();
        using var cluster = new ProcessCluster(1, "--heartbeat-interval", "20", "--election-timeout", "200");
        var m = await EtcdctlSingleMemberTests.StartAsync(cluster);
        string[] at = [m.ClientUrl];
        var revs = new List<long>();
        foreach (var v in new[] { "1", "2", "3" })
            revs.Add((await Etcdctl.OkAsync(at, "put", "a", v, "-w", "json")).Json["header"]!["revision"]!.GetValue<long>());
        Assert.Equal("1", (await Etcdctl.OkAsync(at, "get", "a", $"--rev={revs[0]}", "--print-value-only")).Stdout.Trim());

        var compact = await Etcdctl.OkAsync(at, "compaction", revs[1].ToString());
        Assert.Contains($"compacted revision {revs[1]}", compact.Stdout);

        const string compacted = "etcdserver: mvcc: required revision has been compacted";
        var old = await Etcdctl.RunAsync(at, "get", "a", $"--rev={revs[0]}");
        Assert.False(old.Ok, old.ToString());
        Assert.Contains(compacted, old.Stderr);
        var gw = await m.Client.PostAsync("/v3/kv/range", $"{{\"key\":\"{GatewayClient.B64("a")}\",\"revision\":\"{revs[0]}\"}}");
        Assert.True(gw is { Ok: false }, $"{gw}");
        Assert.Equal(compacted, gw!.Json.GetProperty("message").GetString());
        // The compaction revision itself is still readable, and the current one.
        Assert.Equal("2", (await Etcdctl.OkAsync(at, "get", "a", $"--rev={revs[1]}", "--print-value-only")).Stdout.Trim());
        Assert.Equal("3", await ValueAsync(at, "a"));
        var again = await Etcdctl.RunAsync(at, "compaction", revs[0].ToString());
        Assert.False(again.Ok, again.ToString());
        Assert.Contains(compacted, again.Stderr);
        // HashKV below the compaction is refused too, with etcd's error; at it, the compaction revision is answered.
        var hashOld = await Etcdctl.RunAsync(at, "endpoint", "hashkv", $"--rev={revs[0]}");
        Assert.Contains(compacted, hashOld.Stderr);
        var hash = (await Etcdctl.OkAsync(at, "endpoint", "hashkv", $"--rev={revs[1]}", "-w", "json")).Json[0]!["HashKV"]!;
        Assert.Equal(revs[1], hash["compact_revision"]!.GetValue<long>());
    }

    [Fact]
    public async Task EtcdctlListsAndDisarmsANoSpaceAlarm()
    {
        Etcdctl.Require();
        using var cluster = new ProcessCluster(1, "--heartbeat-interval", "20", "--election-timeout", "200");
        var m = await EtcdctlSingleMemberTests.StartAsync(cluster);
        string[] at = [m.ClientUrl];
        await Etcdctl.OkAsync(at, "put", "k", "v");
        Assert.Equal("", (await Etcdctl.OkAsync(at, "alarm", "list")).Stdout.Trim());

        // Raised through gRPC's Alarm ACTIVATE (as the quota check raises it).
        using var client = new EtcdClient(m.ClientUrl);
        await client.AlarmAsync(new Etcdserverpb.AlarmRequest
        {
            Action = Etcdserverpb.AlarmRequest.Types.AlarmAction.Activate, MemberID = m.Id, Alarm = Etcdserverpb.AlarmType.Nospace,
        });
        var list = await Etcdctl.OkAsync(at, "alarm", "list");
        Assert.Contains($"memberID:{m.Id}", list.Stdout);
        Assert.Contains("alarm:NOSPACE", list.Stdout);
        var gw = await GatewayJson.PostAsync(m, "/v3/maintenance/alarm", "{}");
        Assert.Equal(m.Id.ToString(), gw["alarms"]![0]!["memberID"]!.GetValue<string>());

        var refused = await Etcdctl.RunAsync(at, "put", "k", "v2");
        Assert.False(refused.Ok, refused.ToString());
        Assert.Contains("etcdserver: mvcc: database space exceeded", refused.Stderr);
        Assert.Equal("v", await ValueAsync(at, "k"));

        var disarm = await Etcdctl.OkAsync(at, "alarm", "disarm");
        Assert.Contains("alarm:NOSPACE", disarm.Stdout);
        Assert.Equal("", (await Etcdctl.OkAsync(at, "alarm", "list")).Stdout.Trim());
        await Etcdctl.OkAsync(at, "put", "k", "v3");
        Assert.Equal("v3", await ValueAsync(at, "k"));
    }
}
