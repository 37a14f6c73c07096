using System.Text.Json;
using Raft.Kv.Codec;
using Raft.Kv.Http;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Lease;

/// <summary>
/// The Lease service's handlers without their wire format, shared by the gRPC service
/// (<c>Grpc.LeaseGrpcService</c>) and the JSON gateway (<see cref="LeaseGatewayService"/>), as
/// etcd's gateway is a client of its gRPC service.
/// </summary>
/// <remarks>
/// Grant and revoke go through Raft. Keep-alive and time-to-live need the leader's expiry times:
/// a member that is not the leader forwards them to the leader, as etcd does (etcd posts to the
/// leader's peer URL; here the request goes to the leader's client URL, to the same gateway
/// handler), so a client connected to any member keeps its leases alive.
/// </remarks>
internal static class LeaseOperations
{
    private static readonly HttpClient Forwarder = new() { Timeout = TimeSpan.FromSeconds(5) };

    /// <summary>Grant: the id is chosen here when 0 (random, positive, not in use), then proposed.</summary>
    public static async Task<(LeaseGrantResponse? Response, EtcdError? Error)> GrantAsync(GatewayContext c, long ttl, long id)
    {
        if (ttl > Lessor.MaxTtl) return (null, EtcdError.From(LeaseErrors.TtlTooLarge));
        var lessor = c.Store.Lessor;
        while (id == 0)
        {
            // etcd derives ids from the member id and a counter; any id unique in the cluster will do.
            id = Random.Shared.NextInt64(1, long.MaxValue);
            if (lessor.Exists(id)) id = 0;
        }
        return await ProposeAsync<LeaseGrantResponse>(c, KvCommandCodec.Encode(new LeaseGrantRequest(id, ttl)));
    }

    /// <summary>Revoke: proposed; every member deletes the lease's keys at one revision.</summary>
    /// <remarks>The caller needs write on every key attached to the lease, checked when the entry is applied (etcd's checkLeasePuts).</remarks>
    public static Task<(LeaseRevokeResponse? Response, EtcdError? Error)> RevokeAsync(GatewayContext c, long id) =>
        ProposeAsync<LeaseRevokeResponse>(c, KvCommandCodec.Encode(new LeaseRevokeRequest(id)));

    /// <summary>
    /// Keep-alive: the leader renews the lease (TTL 0 when it does not exist, as etcd's stream
    /// answers); any other member forwards to the leader.
    /// </summary>
    public static async Task<(long Ttl, EtcdError? Error)> KeepAliveAsync(GatewayContext c, long id)
    {
        var (result, error) = await c.ClusterAsync(async ct =>
        {
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                if (IsLeader(c))
                {
                    // etcd's waitAppliedIndex: a grant committed (and answered by another member) may not be applied here yet.
                    var committed = c.Node.Status.CommitIndex;
                    while (c.Node.Status.AppliedIndex < committed) await Task.Delay(5, ct);
                    var (ttl, renewError) = c.Store.Lessor.Renew(id);
                    if (renewError is null) return (ttl, (EtcdError?)null);
                    if (renewError.Kind == KvErrorKind.LeaseNotFound) return (0L, null);
                }
                else if (LeaderUrl(c) is { } url)
                {
                    var forwarded = await ForwardAsync(c, url, "/v3/lease/keepalive", $"{{\"ID\":\"{id}\"}}", ct);
                    if (forwarded is { } doc)
                    {
                        using (doc)
                        {
                            return doc.RootElement.TryGetProperty("result", out var r)
                                ? (ReadInt(r, "TTL"), null)
                                : (0L, ReadError(doc.RootElement));
                        }
                    }
                }
                // No leader yet, or a leader that has not promoted its lessor yet: try again shortly.
                await Task.Delay(50, ct);
            }
        });
        return error is not null ? (0, error) : (result.Item1, result.Item2);
    }

    /// <summary>Time-to-live: the leader's remaining TTL (-1 for a lease that does not exist, as etcd answers); other members forward.</summary>
    /// <remarks>
    /// With <paramref name="keys"/> and auth on, the caller needs read on every key of the lease (etcd
    /// 3.5.9's fix of CVE-2023-32082: key names are not shown to a user who may not read them).
    /// </remarks>
    public static async Task<(LeaseTimeToLive? Response, EtcdError? Error)> TimeToLiveAsync(GatewayContext c, long id, bool keys)
    {
        if (keys && c.Store.Auth.Enabled)
        {
            var (caller, invalid) = Auth.AuthChecker.Info(c.Store.Auth, c.Http);
            if (invalid is not null) return (null, invalid);
            if (caller is null) return (null, Auth.AuthErrors.UserEmpty);
            foreach (var key in c.Store.Lessor.Keys(id) ?? [])
            {
                if (c.Store.Auth.CheckRange(caller, key, default, Auth.AuthPermission.Read) is { } denied) return (null, denied);
            }
        }
        var (result, error) = await c.ClusterAsync(async ct =>
        {
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                if (IsLeader(c) && c.Store.Lessor.IsPrimary)
                {
                    await c.Node.ReadIndexAsync(ct);
                    return c.Store.Lessor.TimeToLive(id, keys) ?? new LeaseTimeToLive(id, -1, 0, []);
                }
                if (!IsLeader(c) && LeaderUrl(c) is { } url)
                {
                    // Only the remaining TTL comes from the leader; the keys (and the permission to
                    // see them, checked above) are this member's, after a linearizable barrier:
                    // every member's lessor holds the same keys, and a caller known only by its
                    // client certificate has no token the leader could check again.
                    var forwarded = await ForwardAsync(c, url, "/v3/lease/timetolive", $"{{\"ID\":\"{id}\",\"keys\":false}}", ct);
                    if (forwarded is { } doc)
                    {
                        long ttl, granted;
                        using (doc)
                        {
                            var root = doc.RootElement;
                            (ttl, granted) = (ReadInt(root, "TTL"), ReadInt(root, "grantedTTL"));
                        }
                        if (ttl < 0 || !keys) return new LeaseTimeToLive(id, ttl, granted, []);
                        await c.Node.ReadIndexAsync(ct);
                        return new LeaseTimeToLive(id, ttl, granted, c.Store.Lessor.Keys(id) ?? []);
                    }
                }
                await Task.Delay(50, ct);
            }
        });
        return (result, error);
    }

    /// <summary>Leases: every lease id, read after a linearizable barrier (the lessor is the same on every member).</summary>
    public static async Task<(IReadOnlyList<long>? Response, EtcdError? Error)> LeasesAsync(GatewayContext c)
    {
        var (_, error) = await c.BarrierAsync();
        return error is not null ? (null, error) : (c.Store.Lessor.Leases(), null);
    }

    private static bool IsLeader(GatewayContext c) => c.Node.Status.Leader == c.Node.MemberId;

    private static string? LeaderUrl(GatewayContext c)
    {
        var leader = c.Node.Status.Leader;
        if (leader == 0 || leader == c.Node.MemberId) return null;
        return c.Node.Members.FirstOrDefault(m => m.Id == leader)?.ClientUrls.FirstOrDefault();
    }

    // Posts to the leader's gateway; null when it cannot be reached (the caller retries until its timeout).
    // The caller's token goes along, so the leader checks the same caller.
    private static async Task<JsonDocument?> ForwardAsync(GatewayContext c, string leaderUrl, string path, string body, CancellationToken ct)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, leaderUrl.TrimEnd('/') + path)
            {
                Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
            };
            var token = c.Http.Request.Headers["token"].ToString();
            if (token.Length == 0) token = c.Http.Request.Headers.Authorization.ToString();
            if (token.Length > 0) request.Headers.TryAddWithoutValidation("token", token);
            using var response = await Forwarder.SendAsync(request, ct);
            var doc = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct), cancellationToken: ct);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("code", out var code)
                && code.GetInt32() == (int)GrpcCode.Unavailable)
            {
                doc.Dispose();
                return null;
            }
            return doc;
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return null;
        }
    }

    private static long ReadInt(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) ? v.ValueKind == JsonValueKind.String ? long.Parse(v.GetString()!, System.Globalization.CultureInfo.InvariantCulture) : v.GetInt64() : 0;

    private static EtcdError ReadError(JsonElement e) =>
        new((GrpcCode)(e.TryGetProperty("code", out var code) ? code.GetInt32() : (int)GrpcCode.Unknown),
            e.TryGetProperty("message", out var m) ? m.GetString() ?? "" : "");

    private static Task<(T? Response, EtcdError? Error)> ProposeAsync<T>(GatewayContext c, byte[] command) where T : class =>
        KvOperations.ProposeStampedAsync<T>(c, command);
}
