using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Raft.Shell.Tests.EndToEnd;

/// <summary>An HTTP answer: status and body, with the body as JSON when it is JSON.</summary>
internal sealed record Reply(int Status, string Body)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement;

    public bool Ok => Status == 200;

    public override string ToString() => $"{Status} {Body}";
}

/// <summary>What <c>/v3/maintenance/status</c> says, the numbers parsed.</summary>
internal sealed record MemberStatus(ulong MemberId, ulong Leader, ulong RaftIndex, ulong AppliedIndex, ulong Term, long Revision);

/// <summary>
/// A client of etcd's v3 JSON gateway as its users script it: POSTs of JSON with base64 keys and
/// values, 64-bit numbers as strings. Connection failures come back as null replies, not exceptions,
/// because the tests kill the processes they talk to.
/// </summary>
internal sealed class GatewayClient : IDisposable
{
    private readonly HttpClient _http;

    /// <param name="baseUrl">The member's client URL.</param>
    /// <param name="timeout">Per request.</param>
    /// <param name="tls">For an https:// URL: the CA to trust and the client certificate to present.</param>
    public GatewayClient(string baseUrl, TimeSpan? timeout = null, System.Net.Security.SslClientAuthenticationOptions? tls = null)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(5),
            // A killed server's pooled connections must not linger into its next life.
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(2),
        };
        if (tls is not null) handler.SslOptions = tls;
        _http = new HttpClient(handler) { BaseAddress = new Uri(baseUrl), Timeout = timeout ?? TimeSpan.FromSeconds(30) };
    }

    /// <summary>An etcd auth token sent in the <c>Authorization</c> header of every POST (the gateway's way), or null.</summary>
    public string? AuthToken { get; set; }

    public static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    public static string Text(string base64) => Encoding.UTF8.GetString(Convert.FromBase64String(base64));

    /// <summary>POSTs <paramref name="body"/> as is; null when the server could not be reached or did not answer.</summary>
    public async Task<Reply?> PostAsync(string path, string body, CancellationToken ct = default)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            if (AuthToken is { } token) request.Headers.TryAddWithoutValidation("Authorization", token);
            using var response = await _http.SendAsync(request, ct);
            return new Reply((int)response.StatusCode, await response.Content.ReadAsStringAsync(ct));
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or SocketException
                                   || ex is TaskCanceledException && !ct.IsCancellationRequested)
        {
            return null;
        }
    }

    public async Task<Reply?> GetAsync(string path, CancellationToken ct = default)
    {
        try
        {
            using var response = await _http.GetAsync(path, ct);
            return new Reply((int)response.StatusCode, await response.Content.ReadAsStringAsync(ct));
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or SocketException
                                   || ex is TaskCanceledException && !ct.IsCancellationRequested)
        {
            return null;
        }
    }

    public Task<Reply?> PutAsync(string key, string value, CancellationToken ct = default) =>
        PostAsync("/v3/kv/put", $"{{\"key\":\"{B64(key)}\",\"value\":\"{B64(value)}\"}}", ct);

    public Task<Reply?> DeleteAsync(string key, CancellationToken ct = default) =>
        PostAsync("/v3/kv/deleterange", $"{{\"key\":\"{B64(key)}\"}}", ct);

    public Task<Reply?> RangeAsync(string key, string? rangeEnd = null, bool serializable = false, CancellationToken ct = default)
    {
        var end = rangeEnd is null ? "" : $",\"range_end\":\"{B64(rangeEnd)}\"";
        var ser = serializable ? ",\"serializable\":true" : "";
        return PostAsync("/v3/kv/range", $"{{\"key\":\"{B64(key)}\"{end}{ser}}}", ct);
    }

    /// <summary>The keys and values of a range answer (decoded); empty when it has none.</summary>
    public static Dictionary<string, string> Kvs(Reply reply)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (reply.Json.TryGetProperty("kvs", out var kvs))
            foreach (var kv in kvs.EnumerateArray())
                result[Text(kv.GetProperty("key").GetString()!)] = kv.TryGetProperty("value", out var v) ? Text(v.GetString()!) : "";
        return result;
    }

    /// <summary>Every key from <paramref name="prefix"/> on (etcd's prefix range); null when the member did not answer 200.</summary>
    public async Task<Dictionary<string, string>?> PrefixAsync(string prefix, bool serializable = false, CancellationToken ct = default)
    {
        var end = prefix[..^1] + (char)(prefix[^1] + 1);
        var reply = await RangeAsync(prefix, end, serializable, ct);
        return reply is { Ok: true } ? Kvs(reply) : null;
    }

    /// <summary>The value of <paramref name="key"/>, null when absent; throws when the read fails.</summary>
    public async Task<string?> GetValueAsync(string key, bool serializable = false, CancellationToken ct = default)
    {
        var reply = await RangeAsync(key, null, serializable, ct);
        Assert.True(reply is { Ok: true }, $"range of {key} failed: {reply}");
        return Kvs(reply!).GetValueOrDefault(key);
    }

    public async Task<MemberStatus?> StatusAsync(CancellationToken ct = default)
    {
        var reply = await PostAsync("/v3/maintenance/status", "{}", ct);
        if (reply is not { Ok: true })
            return null;
        var j = reply.Json;
        var h = j.GetProperty("header");
        return new MemberStatus(U64(h, "member_id"), U64(j, "leader"), U64(j, "raftIndex"), U64(j, "raftAppliedIndex"), U64(j, "raftTerm"),
            (long)U64(h, "revision"));
    }

    public Task<Reply?> MemberListAsync(CancellationToken ct = default) => PostAsync("/v3/cluster/member/list", "{}", ct);

    public Task<Reply?> MemberAddAsync(string peerUrl, CancellationToken ct = default) =>
        PostAsync("/v3/cluster/member/add", $"{{\"peerURLs\":[\"{peerUrl}\"]}}", ct);

    public Task<Reply?> MemberRemoveAsync(ulong id, CancellationToken ct = default) =>
        PostAsync("/v3/cluster/member/remove", $"{{\"ID\":\"{id}\"}}", ct);

    /// <summary>A uint64 field written as a JSON string (etcd's gateway); 0 when omitted.</summary>
    public static ulong U64(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) ? ulong.Parse(v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText()) : 0;

    public void Dispose() => _http.Dispose();
}
