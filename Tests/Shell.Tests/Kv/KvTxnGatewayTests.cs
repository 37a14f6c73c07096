namespace Raft.Shell.Tests.Kv;

/// <summary>
/// The gateway's txn, compaction and range-at-revision answers in etcd's shapes (grpc-gateway's
/// jsonpb: the outer header filled by the server, a nested response's header holding only its
/// revision, a nested txn's header empty; zero fields left out).
/// </summary>
public class KvTxnGatewayTests : IAsyncLifetime
{
    private KvTestServer _server = null!;

    public async Task InitializeAsync() => _server = await KvTestServer.StartAsync(o => o.RequestTimeout = TimeSpan.FromMilliseconds(300));

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private const string Header = "\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":\"3319814642761637952\",";

    private static string H(int revision) => Header + $"\"revision\":\"{revision}\",\"raft_term\":\"2\"}}";

    private static string Err(string message, int code) => $"{{\"error\":\"{message}\",\"code\":{code},\"message\":\"{message}\"}}";

    private async Task Expect(string path, string request, int status, string body)
    {
        var (actualStatus, actualBody) = await _server.PostAsync(path, request);
        Assert.Equal(body, actualBody);
        Assert.Equal(status, actualStatus);
    }

    // foo = "bar" (Zm9v = "foo", YmFy = "bar", YmF6 = "baz").
    private const string FooAt2 = "{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"YmFy\"}";
    private const string FooAt3 = "{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"3\",\"version\":\"2\",\"value\":\"YmF6\"}";

    [Fact]
    public async Task ATxnRunsItsBranchAtOneRevisionAndOlderRevisionsReadUntilCompacted()
    {
        await Expect("/v3/kv/put", "{\"key\":\"Zm9v\",\"value\":\"YmFy\"}", 200, "{" + H(2) + "}");

        // Compare holds: put and range in one revision; the range sees the put.
        await Expect("/v3/kv/txn",
            "{\"compare\":[{\"key\":\"Zm9v\",\"result\":\"EQUAL\",\"target\":\"VALUE\",\"value\":\"YmFy\"}]," +
            "\"success\":[{\"request_put\":{\"key\":\"Zm9v\",\"value\":\"YmF6\"}},{\"request_range\":{\"key\":\"Zm9v\"}}]," +
            "\"failure\":[{\"request_delete_range\":{\"key\":\"Zm9v\"}}]}", 200,
            "{" + H(3) + ",\"succeeded\":true,\"responses\":[{\"response_put\":{\"header\":{\"revision\":\"3\"}}}," +
            "{\"response_range\":{\"header\":{\"revision\":\"3\"},\"kvs\":[" + FooAt3 + "],\"count\":\"1\"}}]}");

        // Compare fails: the failure branch, read-only, leaves the revision alone; a nested txn's header is empty.
        await Expect("/v3/kv/txn",
            "{\"compare\":[{\"key\":\"Zm9v\",\"target\":\"VERSION\",\"result\":\"GREATER\",\"version\":\"5\"}]," +
            "\"failure\":[{\"requestRange\":{\"key\":\"Zm9v\",\"revision\":\"2\"}},{\"request_txn\":{\"success\":[{\"request_range\":{\"key\":\"YQ==\"}}]}}]}", 200,
            "{" + H(3) + ",\"responses\":[{\"response_range\":{\"header\":{\"revision\":\"3\"},\"kvs\":[" + FooAt2 + "],\"count\":\"1\"}}," +
            "{\"response_txn\":{\"header\":{},\"succeeded\":true,\"responses\":[{\"response_range\":{\"header\":{\"revision\":\"3\"}}}]}}]}");

        // A range at an older revision, then compaction makes it an error.
        await Expect("/v3/kv/range", "{\"key\":\"Zm9v\",\"revision\":\"2\"}", 200, "{" + H(3) + ",\"kvs\":[" + FooAt2 + "],\"count\":\"1\"}");
        await Expect("/v3/kv/compaction", "{\"revision\":\"3\",\"physical\":true}", 200, "{" + H(3) + "}");
        await Expect("/v3/kv/range", "{\"key\":\"Zm9v\",\"revision\":\"2\"}", 400, Err("etcdserver: mvcc: required revision has been compacted", 11));
        await Expect("/v3/kv/range", "{\"key\":\"Zm9v\",\"revision\":\"3\"}", 200, "{" + H(3) + ",\"kvs\":[" + FooAt3 + "],\"count\":\"1\"}");
        await Expect("/v3/kv/compaction", "{\"revision\":\"3\"}", 400, Err("etcdserver: mvcc: required revision has been compacted", 11));
        await Expect("/v3/kv/compaction", "{\"revision\":\"9\"}", 400, Err("etcdserver: mvcc: required revision is a future revision", 11));
        // A txn whose range names a compacted revision fails whole, and changes nothing.
        await Expect("/v3/kv/txn", "{\"success\":[{\"request_put\":{\"key\":\"YQ==\"}},{\"request_range\":{\"key\":\"Zm9v\",\"revision\":\"2\"}}]}", 400,
            Err("etcdserver: mvcc: required revision has been compacted", 11));
        Assert.Equal(3, _server.Store.Store.CurrentRevision);
    }

    public static TheoryData<string, int, string> BadTxns => new()
    {
        { "{\"success\":[{\"request_put\":{\"key\":\"YQ==\"}},{\"request_put\":{\"key\":\"YQ==\"}}]}", 400, Err("etcdserver: duplicate key given in txn request", 3) },
        // A put inside a deleted range (etcd 3.4 lets a delete of every key, "\0" to "\0", beside a put).
        { "{\"success\":[{\"request_put\":{\"key\":\"YQ==\"}},{\"request_delete_range\":{\"key\":\"YQ==\",\"range_end\":\"Yw==\"}}]}", 400, Err("etcdserver: duplicate key given in txn request", 3) },
        { "{\"success\":[{\"request_put\":{\"value\":\"YQ==\"}}]}", 400, Err("etcdserver: key is not provided", 3) },
        { "{\"compare\":[{\"key\":\"YQ==\",\"result\":\"BOGUS\"}]}", 400, Err("unknown value \\\"BOGUS\\\" for enum etcdserverpb.Compare_CompareResult", 3) },
        { "{\"success\":{}}", 400, Err("json: cannot unmarshal object into Go value of type []*etcdserverpb.RequestOp", 3) },
    };

    [Theory]
    [MemberData(nameof(BadTxns))]
    public async Task BadTxnsAreRefusedBeforeTheyAreProposed(string request, int status, string body)
    {
        await Expect("/v3/kv/txn", request, status, body);
        Assert.Equal(0, _server.Node.Proposals);
    }
}
