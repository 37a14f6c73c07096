using System.Net;
using System.Text;
using System.Text.Json;
using Raft.Interop;

namespace Raft.Shell.Tests.Kv;

/// <summary>
/// The HTTP API's JSON against etcd's: the expected bodies of the KV session below are what etcd 3.4.23
/// (Debian's etcd-server, one member, fresh data dir) answered to the same requests with curl; the test
/// node carries that member's cluster id, member id and term. Error bodies are in etcd 3.5's field order.
/// </summary>
public class EtcdJsonApiTests : IAsyncLifetime
{
    private KvTestServer _server = null!;

    public async Task InitializeAsync() => _server = await KvTestServer.StartAsync(o => o.RequestTimeout = TimeSpan.FromMilliseconds(300));

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    private const string Header = "\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":\"3319814642761637952\",";

    private static string Err(string message, int code) => $"{{\"error\":\"{message}\",\"code\":{code},\"message\":\"{message}\"}}";

    private async Task Expect(string path, string request, int status, string body)
    {
        var (actualStatus, actualBody) = await _server.PostAsync(path, request);
        Assert.Equal(body, actualBody);
        Assert.Equal(status, actualStatus);
    }

    [Fact]
    public async Task AKvSessionAnswersAsEtcdDid()
    {
        await Expect("/v3/kv/put", $"{{\"key\":\"{B64("foo")}\",\"value\":\"{B64("bar")}\"}}", 200,
            "{" + Header + "\"revision\":\"2\",\"raft_term\":\"2\"}}");
        await Expect("/v3/kv/put", $"{{\"key\":\"{B64("foo")}\",\"value\":\"{B64("baz")}\",\"prev_kv\":true}}", 200,
            "{" + Header + "\"revision\":\"3\",\"raft_term\":\"2\"},\"prev_kv\":{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"YmFy\"}}");
        await Expect("/v3/kv/range", $"{{\"key\":\"{B64("foo")}\"}}", 200,
            "{" + Header + "\"revision\":\"3\",\"raft_term\":\"2\"},\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"3\",\"version\":\"2\",\"value\":\"YmF6\"}],\"count\":\"1\"}");
        await Expect("/v3/kv/range", $"{{\"key\":\"{B64("nope")}\"}}", 200,
            "{" + Header + "\"revision\":\"3\",\"raft_term\":\"2\"}}");
        await Expect("/v3/kv/range", "{\"key\":\"AA==\",\"range_end\":\"AA==\",\"count_only\":true}", 200,
            "{" + Header + "\"revision\":\"3\",\"raft_term\":\"2\"},\"count\":\"1\"}");
        await Expect("/v3/kv/range", "{\"key\":\"AA==\",\"range_end\":\"AA==\",\"keys_only\":true,\"limit\":1}", 200,
            "{" + Header + "\"revision\":\"3\",\"raft_term\":\"2\"},\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"3\",\"version\":\"2\"}],\"count\":\"1\"}");

        foreach (var k in new[] { "a", "b", "c" })
            await _server.PostAsync("/v3/kv/put", $"{{\"key\":\"{B64(k)}\",\"value\":\"{B64("v" + k)}\"}}");

        var limited = "{" + Header + "\"revision\":\"6\",\"raft_term\":\"2\"},\"kvs\":[{\"key\":\"YQ==\",\"create_revision\":\"4\",\"mod_revision\":\"4\",\"version\":\"1\",\"value\":\"dmE=\"},{\"key\":\"Yg==\",\"create_revision\":\"5\",\"mod_revision\":\"5\",\"version\":\"1\",\"value\":\"dmI=\"}],\"more\":true,\"count\":\"4\"}";
        await Expect("/v3/kv/range", $"{{\"key\":\"{B64("a")}\",\"range_end\":\"{B64("z")}\",\"limit\":2}}", 200, limited);
        await Expect("/v3/kv/range", $"{{\"key\":\"{B64("a")}\",\"range_end\":\"{B64("z")}\",\"limit\":\"2\"}}", 200, limited);
        await Expect("/v3/kv/range", $"{{\"key\":\"{B64("a")}\",\"range_end\":\"\"}}", 200,
            "{" + Header + "\"revision\":\"6\",\"raft_term\":\"2\"},\"kvs\":[{\"key\":\"YQ==\",\"create_revision\":\"4\",\"mod_revision\":\"4\",\"version\":\"1\",\"value\":\"dmE=\"}],\"count\":\"1\"}");
        await Expect("/v3/kv/range", $"{{\"key\":\"{B64("c")}\",\"range_end\":\"{B64("a")}\"}}", 200,
            "{" + Header + "\"revision\":\"6\",\"raft_term\":\"2\"}}");
        await Expect("/v3/kv/deleterange", $"{{\"key\":\"{B64("zz")}\"}}", 200,
            "{" + Header + "\"revision\":\"6\",\"raft_term\":\"2\"}}");
        await Expect("/v3/kv/deleterange", $"{{\"key\":\"{B64("a")}\",\"range_end\":\"{B64("c")}\",\"prev_kv\":true}}", 200,
            "{" + Header + "\"revision\":\"7\",\"raft_term\":\"2\"},\"deleted\":\"2\",\"prev_kvs\":[{\"key\":\"YQ==\",\"create_revision\":\"4\",\"mod_revision\":\"4\",\"version\":\"1\",\"value\":\"dmE=\"},{\"key\":\"Yg==\",\"create_revision\":\"5\",\"mod_revision\":\"5\",\"version\":\"1\",\"value\":\"dmI=\"}]}");
        await Expect("/v3/kv/deleterange", $"{{\"key\":\"{B64("a")}\",\"range_end\":\"{B64("c")}\",\"prev_kv\":true}}", 200,
            "{" + Header + "\"revision\":\"7\",\"raft_term\":\"2\"}}");
        await Expect("/v3/kv/put", $"{{\"key\":\"{B64("e")}\"}}", 200,
            "{" + Header + "\"revision\":\"8\",\"raft_term\":\"2\"}}");
        await Expect("/v3/kv/range", $"{{\"key\":\"{B64("e")}\"}}", 200,
            "{" + Header + "\"revision\":\"8\",\"raft_term\":\"2\"},\"kvs\":[{\"key\":\"ZQ==\",\"create_revision\":\"8\",\"mod_revision\":\"8\",\"version\":\"1\"}],\"count\":\"1\"}");
        await Expect("/v3/kv/put", $"{{\"key\":\"{B64("a")}\",\"value\":\"{B64("x")}\"}}", 200,
            "{" + Header + "\"revision\":\"9\",\"raft_term\":\"2\"}}");
        await Expect("/v3/kv/range", $"{{\"key\":\"{B64("a")}\"}}", 200,
            "{" + Header + "\"revision\":\"9\",\"raft_term\":\"2\"},\"kvs\":[{\"key\":\"YQ==\",\"create_revision\":\"9\",\"mod_revision\":\"9\",\"version\":\"1\",\"value\":\"eA==\"}],\"count\":\"1\"}");
        // Unknown fields are ignored and lowerCamelCase names are accepted, as by the gateway.
        await Expect("/v3/kv/put", "{\"key\":\"YQ==\",\"bogus\":1}", 200,
            "{" + Header + "\"revision\":\"10\",\"raft_term\":\"2\"}}");
        await Expect("/v3/kv/range", $"{{\"key\":\"{B64("a")}\",\"rangeEnd\":\"{B64("z")}\",\"countOnly\":true}}", 200,
            "{" + Header + "\"revision\":\"10\",\"raft_term\":\"2\"},\"count\":\"4\"}");
    }

    [Fact]
    public async Task SortingAndRevisionFiltersAnswerAsEtcdDid()
    {
        foreach (var (k, v) in new[] { ("a", "va"), ("b", "vb"), ("c", "vc"), ("a", "z") })
            await _server.PostAsync("/v3/kv/put", $"{{\"key\":\"{B64(k)}\",\"value\":\"{B64(v)}\"}}");
        const string h = "{" + Header + "\"revision\":\"5\",\"raft_term\":\"2\"},";
        const string a = "{\"key\":\"YQ==\",\"create_revision\":\"2\",\"mod_revision\":\"5\",\"version\":\"2\"}";
        const string b = "{\"key\":\"Yg==\",\"create_revision\":\"3\",\"mod_revision\":\"3\",\"version\":\"1\"}";
        const string c = "{\"key\":\"Yw==\",\"create_revision\":\"4\",\"mod_revision\":\"4\",\"version\":\"1\"}";
        await Expect("/v3/kv/range", "{\"key\":\"AA==\",\"range_end\":\"AA==\",\"sort_order\":\"DESCEND\",\"limit\":2,\"keys_only\":true}", 200,
            h + "\"kvs\":[" + c + "," + b + "],\"more\":true,\"count\":\"3\"}");
        await Expect("/v3/kv/range", "{\"key\":\"AA==\",\"range_end\":\"AA==\",\"sort_target\":\"MOD\",\"limit\":1,\"keys_only\":true}", 200,
            h + "\"kvs\":[" + b + "],\"more\":true,\"count\":\"3\"}");
        await Expect("/v3/kv/range", "{\"key\":\"AA==\",\"range_end\":\"AA==\",\"sort_target\":\"VALUE\",\"sort_order\":2,\"keys_only\":true}", 200,
            h + "\"kvs\":[" + a + "," + c + "," + b + "],\"count\":\"3\"}");
        await Expect("/v3/kv/range", "{\"key\":\"AA==\",\"range_end\":\"AA==\",\"min_mod_revision\":\"4\",\"keys_only\":true}", 200,
            h + "\"kvs\":[" + a + "," + c + "],\"count\":\"3\"}");
        await Expect("/v3/kv/range", "{\"key\":\"AA==\",\"range_end\":\"AA==\",\"max_create_revision\":\"3\",\"count_only\":true}", 200,
            h + "\"count\":\"3\"}");
        await Expect("/v3/kv/range", "{\"key\":\"AA==\",\"range_end\":\"AA==\",\"sort_order\":7,\"keys_only\":true}", 200,
            h + "\"kvs\":[" + a + "," + b + "," + c + "],\"count\":\"3\"}");
        await Expect("/v3/kv/range", "{\"key\":\"AA==\",\"range_end\":\"AA==\",\"limit\":\" 1\",\"keys_only\":true}", 200,
            h + "\"kvs\":[" + a + "],\"more\":true,\"count\":\"3\"}");
    }

    public static TheoryData<string, string, int, string> BadRequests => new()
    {
        { "/v3/kv/put", "{\"value\":\"YQ==\"}", 400, Err("etcdserver: key is not provided", 3) },
        { "/v3/kv/range", "", 400, Err("etcdserver: key is not provided", 3) },
        { "/v3/kv/range", "  \n", 400, Err("etcdserver: key is not provided", 3) },
        { "/v3/kv/range", "null", 400, Err("etcdserver: key is not provided", 3) },
        { "/v3/kv/deleterange", "{\"range_end\":\"AA==\"}", 400, Err("etcdserver: key is not provided", 3) },
        { "/v3/kv/range", "{\"key\":null}", 400, Err("etcdserver: key is not provided", 3) },
        { "/v3/kv/put", "{\"key\":", 400, Err("unexpected EOF", 3) },
        { "/v3/kv/put", "{\"key\":\"YQ", 400, Err("unexpected EOF", 3) },
        { "/v3/kv/put", "{\"key\":\"!!!\"}", 400, Err("illegal base64 data at input byte 0", 3) },
        { "/v3/kv/range", "{\"key\":\"YQ\"}", 400, Err("illegal base64 data at input byte 0", 3) },
        { "/v3/kv/range", "{\"key\":\"-_8=\"}", 400, Err("illegal base64 data at input byte 0", 3) },
        { "/v3/kv/range", "{\"key\":\"YWJj!\"}", 400, Err("illegal base64 data at input byte 4", 3) },
        { "/v3/kv/range", "{\"key\":\"YW Jj\"}", 400, Err("illegal base64 data at input byte 2", 3) },
        { "/v3/kv/range", "{\"key\":\"YQ=\\n\"}", 400, Err("illegal base64 data at input byte 4", 3) },
        { "/v3/kv/range", "{\"key\":\"YQ===\"}", 400, Err("illegal base64 data at input byte 4", 3) },
        { "/v3/kv/range", "{\"key\":\"Y\"}", 400, Err("illegal base64 data at input byte 0", 3) },
        { "/v3/kv/range", "{\"key\":123}", 400, Err("json: cannot unmarshal number into Go value of type []uint8", 3) },
        { "/v3/kv/put", "{\"key\":\"YQ==\",\"prev_kv\":\"yes\"}", 400, Err("json: cannot unmarshal string into Go value of type bool", 3) },
        { "/v3/kv/put", "[]", 400, Err("json: cannot unmarshal array into Go value of type map[string]json.RawMessage", 3) },
        { "/v3/kv/range", "\"str\"", 400, Err("json: cannot unmarshal string into Go value of type map[string]json.RawMessage", 3) },
        { "/v3/kv/range", "{\"key\":\"YQ==\",\"limit\":\"abc\"}", 400, Err("invalid character 'a' looking for beginning of value", 3) },
        { "/v3/kv/range", "{\"key\":\"YQ==\",\"limit\":true}", 400, Err("json: cannot unmarshal bool into Go value of type int64", 3) },
        { "/v3/kv/range", "{\"key\":\"YQ==\",\"limit\":1.5}", 400, Err("json: cannot unmarshal number 1.5 into Go value of type int64", 3) },
        { "/v3/kv/range", "{\"key\":{}}", 400, Err("json: cannot unmarshal object into Go value of type []uint8", 3) },
        { "/v3/kv/range", "{key:1}", 400, Err("invalid character 'k' looking for beginning of object key string", 3) },
        { "/v3/kv/range", "{\"key\":\"YQ==\",}", 400, Err("invalid character '}' looking for beginning of object key string", 3) },
        { "/v3/kv/range", "xyz", 400, Err("invalid character 'x' looking for beginning of value", 3) },
        { "/v3/kv/range", "{\"key\":\"YQ==\",\"sort_order\":\"BOGUS\"}", 400, Err("unknown value \\\"BOGUS\\\" for enum etcdserverpb.RangeRequest_SortOrder", 3) },
        { "/v3/kv/range", "{\"key\":\"AA==\",\"range_end\":\"AA==\",\"sort_target\":\"BOGUS\"}", 400, Err("unknown value \\\"BOGUS\\\" for enum etcdserverpb.RangeRequest_SortTarget", 3) },
        { "/v3/kv/range", "{\"key\":\"AA==\",\"limit\":\"12x\"}", 400, Err("invalid character 'x' after top-level value", 3) },
        { "/v3/kv/range", "{\"key\":\"AA==\",\"limit\":\"1.5\"}", 400, Err("json: cannot unmarshal number 1.5 into Go value of type int64", 3) },
        { "/v3/kv/range", "{\"key\":\"AA==\",\"limit\":\"1e2\"}", 400, Err("json: cannot unmarshal number 1e2 into Go value of type int64", 3) },
        { "/v3/kv/range", "{\"key\":\"AA==\",\"limit\":1e2}", 400, Err("json: cannot unmarshal number 1e2 into Go value of type int64", 3) },
        { "/v3/kv/range", "{\"key\":\"AA==\", \"x\": tru}", 400, Err("invalid character '}' in literal true (expecting 'e')", 3) },
        { "/v3/kv/range", "{\"key\":\"AA==\" \"x\"}", 400, Err("invalid character '\\\"' after object key:value pair", 3) },
        { "/v3/kv/range", "{\"key\" 1}", 400, Err("invalid character '1' after object key", 3) },
        { "/v3/kv/range", "[1,}", 400, Err("invalid character '}' looking for beginning of value", 3) },
        { "/v3/kv/range", "{\"key\":\"AA==\",\"limit\":01}", 400, Err("invalid character '1' after object key:value pair", 3) },
        { "/v3/kv/range", "{\"key\":\"\\x\"}", 400, Err("invalid character 'x' in string escape code", 3) },
        // jsonpb decodes fields in field-number order: the key's error wins over an earlier prev_kv's.
        { "/v3/kv/put", "{\"prev_kv\":\"yes\",\"key\":123}", 400, Err("json: cannot unmarshal number into Go value of type []uint8", 3) },
        { "/v3/kv/range", "{\"key\":\"YQ==\",\"revision\":\"9\"}", 400, Err("etcdserver: mvcc: required revision is a future revision", 11) },
        { "/v3/cluster/member/remove", "{\"ID\":\"12345\"}", 404, Err("etcdserver: member not found", 5) },
        { "/v3/cluster/member/remove", "{\"id\":\"12345\"}", 404, Err("etcdserver: member not found", 5) },
        { "/v3/cluster/member/promote", "{\"ID\":12345}", 404, Err("etcdserver: member not found", 5) },
        { "/v3/cluster/member/promote", "{\"ID\":\"3319814642761637952\"}", 412, Err("etcdserver: can only promote a learner member", 9) },
        { "/v3/cluster/member/add", "{\"peerURLs\":[\"not a url\"]}", 400, Err("etcdserver: given member URLs are invalid", 3) },
        { "/v3/cluster/member/add", "{}", 400, Err("etcdserver: given member URLs are invalid", 3) },
        { "/v3/cluster/member/add", "{\"peer_URLs\":[\"http://127.0.0.1:23802\"]}", 400, Err("etcdserver: given member URLs are invalid", 3) },
        { "/v3/cluster/member/add", "{\"peerURLs\":[\"http://127.0.0.1:23800\"]}", 412, Err("etcdserver: Peer URLs already exists", 9) },
        { "/v3/cluster/member/add", "{\"peerURLs\":[\"http://127.0.0.1:1/path\"]}", 400, Err("etcdserver: given member URLs are invalid", 3) },
        { "/v3/cluster/member/add", "{\"peerURLs\":[\"http://127.0.0.1\"]}", 400, Err("etcdserver: given member URLs are invalid", 3) },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task BadRequestsGetEtcdsErrors(string path, string request, int status, string body)
    {
        await Expect(path, request, status, body);
        Assert.Equal(1, _server.Store.Store.CurrentRevision);
        Assert.Equal(0, _server.Node.Proposals);
    }

    [Fact]
    public async Task RequestSizesAreCheckedAsEtcdChecksThem()
    {
        string PutOf(int valueBytes) => $"{{\"key\":\"YQ==\",\"value\":\"{Convert.ToBase64String(new byte[valueBytes])}\"}}";
        // Just under --max-request-bytes: accepted (etcd accepted this size).
        var (ok, _) = await _server.PostAsync("/v3/kv/put", PutOf(1572864 - 100));
        Assert.Equal(200, ok);
        await Expect("/v3/kv/put", PutOf(1572864), 400, Err("etcdserver: request is too large", 3));
        // Far over: refused as gRPC's receive limit refuses it (etcd: code 8, HTTP 429).
        var (status, body) = await _server.PostAsync("/v3/kv/put", PutOf(3 * 1024 * 1024));
        Assert.Equal(429, status);
        Assert.StartsWith("{\"error\":\"grpc: received message larger than max (", body);
        Assert.Contains("vs. 2097152)\",\"code\":8,", body);
        Assert.Equal(2, _server.Store.Store.CurrentRevision);
    }

    [Theory]
    [InlineData(3 * 1024 * 1024)]
    [InlineData(8 * 1024 * 1024)]
    public async Task ABodyRefusedUnreadReportsTheSizeItHadReached(int valueBytes)
    {
        // Refused as soon as the body buffered so far exceeds what a request within gRPC's receive
        // limit can take as base64 (the limit's 4/3 plus 64 KiB): the size reported is that buffer's,
        // as bytes (3/4 of it), so it lies between the limit and the request's own size.
        var json = $"{{\"key\":\"YQ==\",\"value\":\"{Convert.ToBase64String(new byte[valueBytes])}\"}}";
        var (status, body) = await _server.PostAsync("/v3/kv/put", json);
        Assert.Equal(429, status);
        var match = System.Text.RegularExpressions.Regex.Match(body, @"received message larger than max \((-?\d+) vs\. (\d+)\)");
        Assert.True(match.Success, body);
        var reported = long.Parse(match.Groups[1].Value);
        var limit = long.Parse(match.Groups[2].Value);
        Assert.Equal(2097152, limit);
        Assert.InRange(reported, limit + 1, json.Length * 3L / 4);
    }

    [Fact]
    public async Task OtherMethodsAreNotAllowed()
    {
        var get = await _server.GetAsync("/v3/kv/range");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, get.StatusCode);
        Assert.Equal("Method Not Allowed\n", await get.Content.ReadAsStringAsync());
        var post = await _server.Client.PostAsync("/health", new StringContent(""));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        Assert.Equal("GET", string.Join(",", post.Content.Headers.Allow));
    }

    [Fact]
    public async Task WithoutALeaderWritesAndLinearizableReadsFailAfterTheTimeoutWhileSerializableReadsWork()
    {
        await _server.PostAsync("/v3/kv/put", "{\"key\":\"YQ==\",\"value\":\"Yg==\"}");
        _server.Node.Leader = 0;

        await Expect("/v3/kv/put", "{\"key\":\"YQ==\"}", 503, Err("etcdserver: no leader", 14));
        await Expect("/v3/kv/range", "{\"key\":\"YQ==\"}", 503, Err("etcdserver: no leader", 14));
        await Expect("/v3/kv/range", "{\"key\":\"YQ==\",\"serializable\":true}", 200,
            "{" + Header + "\"revision\":\"2\",\"raft_term\":\"2\"},\"kvs\":[{\"key\":\"YQ==\",\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"Yg==\"}],\"count\":\"1\"}");
        await Expect("/v3/cluster/member/remove", "{\"ID\":\"1\"}", 503, Err("etcdserver: no leader", 14));
        Assert.Equal(2, _server.Store.Store.CurrentRevision);
    }

    [Fact]
    public async Task NodeFailuresMapToEtcdsErrors()
    {
        // The node reporting its own timeout, and other failures by their codes.
        _server.Node.FailNext = new RaftException(RaftErrorCode.Timeout, "the node's own words");
        await Expect("/v3/kv/put", "{\"key\":\"YQ==\"}", 503, Err("etcdserver: request timed out", 14));
        _server.Node.FailNext = new RaftException(RaftErrorCode.Stopped, "etcdserver: server stopped");
        await Expect("/v3/kv/range", "{\"key\":\"YQ==\"}", 503, Err("etcdserver: server stopped", 14));
        _server.Node.FailNext = new RaftException(RaftErrorCode.ProposalDropped, "dropped");
        await Expect("/v3/kv/deleterange", "{\"key\":\"YQ==\"}", 500, Err("raft proposal dropped", 2));
        _server.Node.FailNext = new RaftException(RaftErrorCode.NotLeader, "not leader");
        await Expect("/v3/cluster/member/promote", "{\"ID\":\"1\"}", 412, Err("etcdserver: not leader", 9));
        // A node that uses etcd's own message gets etcd's own code for it.
        _server.Node.FailNext = new RaftException(RaftErrorCode.Unhealthy, "etcdserver: re-configuration failed due to not enough started members");
        await Expect("/v3/cluster/member/remove", "{\"ID\":\"1\"}", 412, Err("etcdserver: re-configuration failed due to not enough started members", 9));
        _server.Node.FailNext = new RaftException(RaftErrorCode.Unhealthy, "something else");
        await Expect("/v3/cluster/member/remove", "{\"ID\":\"1\"}", 503, Err("etcdserver: unhealthy cluster", 14));
    }

    [Fact]
    public async Task RangesAreLinearizableByDefaultAndSerializableOnRequest()
    {
        await _server.PostAsync("/v3/kv/range", "{\"key\":\"YQ==\"}");
        Assert.Equal(1, _server.Node.ReadIndexCalls);
        await _server.PostAsync("/v3/kv/range", "{\"key\":\"YQ==\",\"serializable\":true}");
        Assert.Equal(1, _server.Node.ReadIndexCalls);
        await _server.PostAsync("/v3/cluster/member/list", "{\"linearizable\":true}");
        Assert.Equal(2, _server.Node.ReadIndexCalls);
        await _server.PostAsync("/v3/cluster/member/list", "{}");
        Assert.Equal(2, _server.Node.ReadIndexCalls);
    }

    [Fact]
    public async Task MembershipAnswersAsEtcdDid()
    {
        const string e1 = "{\"ID\":\"3319814642761637952\",\"name\":\"e1\",\"peerURLs\":[\"http://127.0.0.1:23800\"],\"clientURLs\":[\"http://127.0.0.1:23790\"]}";
        const string learner = "{\"ID\":\"7152959861385307247\",\"peerURLs\":[\"http://127.0.0.1:23801\"],\"isLearner\":true}";
        await Expect("/v3/cluster/member/list", "{}", 200, "{" + Header + "\"raft_term\":\"2\"},\"members\":[" + e1 + "]}");
        await Expect("/v3/cluster/member/add", "{\"peerURLs\":[\"http://127.0.0.1:23801\"],\"isLearner\":true}", 200,
            "{" + Header + "\"raft_term\":\"2\"},\"member\":" + learner + ",\"members\":[" + e1 + "," + learner + "]}");
        await Expect("/v3/cluster/member/list", "{\"linearizable\":true}", 200, "{" + Header + "\"raft_term\":\"2\"},\"members\":[" + e1 + "," + learner + "]}");
        await Expect("/v3/cluster/member/promote", "{\"ID\":\"7152959861385307247\"}", 200,
            "{" + Header + "\"raft_term\":\"2\"},\"members\":[" + e1 + "," + learner.Replace(",\"isLearner\":true", "") + "]}");
        await Expect("/v3/cluster/member/remove", "{\"ID\":7152959861385307247}", 200, "{" + Header + "\"raft_term\":\"2\"},\"members\":[" + e1 + "]}");
    }

    [Fact]
    public async Task MemberUpdateReplacesPeerUrlsAndRefusesUnknownMembersAndBadUrls()
    {
        const string e1 = "{\"ID\":\"3319814642761637952\",\"name\":\"e1\",\"peerURLs\":[\"http://127.0.0.1:23800\"],\"clientURLs\":[\"http://127.0.0.1:23790\"]}";
        await Expect("/v3/cluster/member/update", "{\"ID\":\"3319814642761637952\",\"peerURLs\":[\"http://127.0.0.1:23900\"]}", 200,
            "{" + Header + "\"raft_term\":\"2\"},\"members\":[" + e1.Replace("23800", "23900") + "]}");
        await Expect("/v3/cluster/member/update", "{\"ID\":\"42\",\"peerURLs\":[\"http://127.0.0.1:23901\"]}", 404, Err("etcdserver: member not found", 5));
        await Expect("/v3/cluster/member/update", "{\"ID\":\"3319814642761637952\",\"peerURLs\":[\"not a url\"]}", 400, Err("etcdserver: given member URLs are invalid", 3));
    }

    [Fact]
    public async Task MaintenanceStatusHasEtcdsShapeAndReportsNoLeader()
    {
        await _server.PostAsync("/v3/kv/put", "{\"key\":\"YQ==\",\"value\":\"Yg==\"}");
        // The size is the backend's, which grows when the write batch commits: commit it now.
        _server.Store.Store.Commit();
        var size = _server.Store.Store.SizeBytes;
        Assert.True(size > 0);
        var (status, body) = await _server.PostAsync("/v3/maintenance/status", "{}");
        Assert.Equal(200, status);
        Assert.Equal("{" + Header + "\"revision\":\"2\",\"raft_term\":\"2\"},\"version\":\"3.5.0\",\"dbSize\":\"" + size + "\",\"leader\":\"3319814642761637952\",\"raftIndex\":\"1\",\"raftTerm\":\"2\",\"raftAppliedIndex\":\"1\",\"dbSizeInUse\":\"" + size + "\"}", body);

        _server.Node.Leader = 0;
        (status, body) = await _server.PostAsync("/v3/maintenance/status", "");
        Assert.Equal(200, status);
        Assert.Equal("{" + Header + "\"revision\":\"2\",\"raft_term\":\"2\"},\"version\":\"3.5.0\",\"dbSize\":\"" + size + "\",\"raftIndex\":\"1\",\"raftTerm\":\"2\",\"raftAppliedIndex\":\"1\",\"errors\":[\"etcdserver: no leader\"],\"dbSizeInUse\":\"" + size + "\"}", body);
    }

    [Fact]
    public async Task HealthIsEtcd35sShape()
    {
        var ok = await _server.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal("{\"health\":\"true\",\"reason\":\"\"}", await ok.Content.ReadAsStringAsync());

        _server.Node.Leader = 0;
        var bad = await _server.GetAsync("/health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, bad.StatusCode);
        Assert.Equal("{\"health\":\"false\",\"reason\":\"RAFT NO LEADER\"}\n", await bad.Content.ReadAsStringAsync());

        var local = await _server.GetAsync("/health?serializable=true");
        Assert.Equal(HttpStatusCode.OK, local.StatusCode);

        _server.Node.Leader = SynchronousTestNode.EtcdMemberId;
        _server.Node.FailNext = new RaftException(RaftErrorCode.Timeout, "slow");
        var slow = await _server.GetAsync("/health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, slow.StatusCode);
        Assert.Equal("{\"health\":\"false\",\"reason\":\"RANGE ERROR:etcdserver: request timed out\"}\n", await slow.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task StatusPageShowsTheNodeTheStoreAndTheMembers()
    {
        await _server.PostAsync("/v3/kv/put", "{\"key\":\"YQ==\",\"value\":\"Yg==\"}");
        var response = await _server.GetAsync("/status");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = doc.RootElement;
        Assert.Equal("3319814642761637952", root.GetProperty("member_id").GetString());
        Assert.Equal("324952591200643719", root.GetProperty("cluster_id").GetString());
        Assert.Equal("Leader", root.GetProperty("role").GetString());
        Assert.Equal("2", root.GetProperty("term").GetString());
        Assert.Equal("1", root.GetProperty("applied_index").GetString());
        Assert.Equal("2", root.GetProperty("store").GetProperty("revision").GetString());
        Assert.Equal("1", root.GetProperty("store").GetProperty("keys").GetString());
        Assert.Equal("e1", root.GetProperty("members")[0].GetProperty("name").GetString());
    }

    [Fact]
    public async Task MetricsExportTheStoresCounters()
    {
        await _server.PostAsync("/v3/kv/put", "{\"key\":\"YQ==\",\"value\":\"Yg==\"}");
        await _server.PostAsync("/v3/kv/put", "{\"key\":\"Yg==\",\"value\":\"Yg==\"}");
        await _server.PostAsync("/v3/kv/range", "{\"key\":\"YQ==\"}");
        var response = await _server.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("# TYPE etcd_mvcc_put_total counter\netcd_mvcc_put_total 2\n", text);
        Assert.Contains("etcd_mvcc_range_total 1\n", text);
        Assert.Contains("# TYPE etcd_debugging_mvcc_keys_total gauge\netcd_debugging_mvcc_keys_total 2\n", text);
        Assert.Contains("etcd_debugging_mvcc_current_revision 3\n", text);
    }
}
