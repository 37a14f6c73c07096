using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Raft.Kv.Codec;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Http;

/// <summary>
/// etcd's Maintenance service on the gateway: <c>/v3/maintenance/status</c>, <c>alarm</c>,
/// <c>snapshot</c> (a stream of JSON lines, as grpc-gateway writes a server stream),
/// <c>defragment</c>, <c>hash</c> and <c>transfer-leadership</c>, with the handlers the gRPC
/// service shares.
/// </summary>
internal static class MaintenanceService
{
    public static void Map(IEndpointRouteBuilder endpoints, SharedServices services)
    {
        GatewayContext.MapGateway(endpoints, services, "/v3/maintenance/status", Status);
        GatewayContext.MapGateway(endpoints, services, "/v3/maintenance/alarm", Alarm);
        GatewayContext.MapGateway(endpoints, services, "/v3/maintenance/snapshot", Snapshot);
        GatewayContext.MapGateway(endpoints, services, "/v3/maintenance/defragment", Defragment);
        // etcd's rpc.proto gives Hash and HashKV the same path; etcd 3.4's gateway answers Hash there
        // (tried: a future revision in the body is not refused), so HashKV has no gateway path.
        GatewayContext.MapGateway(endpoints, services, "/v3/maintenance/hash", Hash);
        GatewayContext.MapGateway(endpoints, services, "/v3/maintenance/transfer-leadership", MoveLeader);
    }

    private static async Task Hash(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var error = await ReadEmptyAsync(c);
        HashKVAnswer? answer = null;
        if (error is null) (answer, error) = HashOf(c);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.Hash(w, answer!.Header, answer.Hash)));
    }

    /// <summary>
    /// etcd's Hash, shared with the gRPC service: etcd hashes its whole database file, which differs
    /// between members by nature (page layout); here the store's history at the current revision, as
    /// HashKV hashes it, so that it is equal on members at one revision.
    /// </summary>
    internal static (HashKVAnswer? Answer, EtcdError? Error) HashOf(GatewayContext c)
    {
        if (Auth.AuthChecker.CheckAdmin(c.Store.Auth, c.Http) is { } denied) return (null, denied);
        var (hash, revision, compacted) = c.Store.Store.HashKV(0);
        return (new HashKVAnswer(c.Header(revision), hash, compacted), null);
    }

    /// <summary>HashKV's answer: the header (at the store's current revision), the hash and the compaction revision.</summary>
    internal sealed record HashKVAnswer(ResponseHeader Header, uint Hash, long CompactRevision);

    /// <summary>
    /// etcd's HashKV, shared with the gRPC service: CRC-32C of the store's history up to a revision
    /// (0: the current one), as it is in the backend (<see cref="MvccStore.HashKV"/>): equal on
    /// members at one revision.
    /// </summary>
    internal static (HashKVAnswer? Answer, EtcdError? Error) HashKVOf(GatewayContext c, long revision)
    {
        if (Auth.AuthChecker.CheckAdmin(c.Store.Auth, c.Http) is { } denied) return (null, denied);
        try
        {
            var (hash, _, compacted) = c.Store.Store.HashKV(revision);
            // etcd's store starts with compactMainRev -1: a store never compacted answers -1.
            return (new HashKVAnswer(c.Header(c.Store.Store.CurrentRevision), hash, compacted == 0 ? -1 : compacted), null);
        }
        catch (MvccException ex)
        {
            return (null, EtcdError.From(ex.Error));
        }
    }

    private static async Task MoveLeader(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (target, error) = await c.ReadAsync<ulong>(GatewayJsonReader.ReadMoveLeader);
        error ??= await MoveLeaderAsync(c, target);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.HeaderOnly(w, c.Header())));
    }

    /// <summary>etcd's MoveLeader, shared with the gRPC service: only the leader hands leadership over (etcdctl finds it first).</summary>
    internal static async Task<EtcdError?> MoveLeaderAsync(GatewayContext c, ulong target)
    {
        if (Auth.AuthChecker.CheckAdmin(c.Store.Auth, c.Http) is { } denied) return denied;
        if (c.Node.Status.Leader != c.Node.MemberId) return EtcdError.NotLeader;
        var (_, error) = await c.ClusterAsync(async ct =>
        {
            await c.Node.TransferLeadershipAsync(target, ct);
            return true;
        });
        return error;
    }

    private static async Task<EtcdError?> ReadEmptyAsync(GatewayContext c)
    {
        var (_, error) = await c.ReadAsync((ReadOnlySequence<byte> body, out bool none) =>
        {
            none = true;
            return GatewayJsonReader.ReadEmpty(body);
        });
        return error;
    }

    private static async Task Snapshot(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var error = await ReadEmptyAsync(c) ?? Auth.AuthChecker.CheckAdmin(c.Store.Auth, http);
        if (error is not null)
        {
            await c.WriteErrorAsync(error);
            return;
        }
        http.Response.StatusCode = 200;
        http.Response.ContentType = "application/json";
        await MaintenanceSnapshot.SendAsync(c.Store.Store, async (remaining, blob, ct) =>
        {
            var line = new System.Buffers.ArrayBufferWriter<byte>(blob.Length * 4 / 3 + 256);
            using (var w = GatewayJsonWriter.Create(line)) GatewayJsonWriter.SnapshotChunk(w, remaining, blob.Span);
            line.Write("\n"u8);
            await http.Response.Body.WriteAsync(line.WrittenMemory, ct);
        }, http.RequestAborted);
    }

    private static async Task Defragment(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var error = await ReadEmptyAsync(c) ?? await DefragmentAsync(c);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w =>
        {
            // etcd's DefragmentResponse is empty.
            w.WriteStartObject();
            w.WriteEndObject();
        }));
    }

    /// <summary>
    /// etcd's Maintenance.Defragment, shared with the gRPC service: this member's store only (etcdctl
    /// asks each endpoint), on a pool thread because applies and the backend wait for it.
    /// </summary>
    internal static async Task<EtcdError?> DefragmentAsync(GatewayContext c)
    {
        if (Auth.AuthChecker.CheckAdmin(c.Store.Auth, c.Http) is { } denied) return denied;
        var store = c.Store.Store;
        var before = store.SizeBytes;
        try
        {
            await Task.Run(store.Defragment, c.Http.RequestAborted);
        }
        catch (TimeoutException ex)
        {
            return new EtcdError(GrpcCode.Unavailable, "etcdserver: " + ex.Message);
        }
        c.Logger.LogInformation("defragmented the store: {Before} -> {After} bytes", before, store.SizeBytes);
        return null;
    }

    private static async Task Alarm(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync<AlarmRequest>(GatewayJsonReader.ReadAlarm);
        AlarmResponse? response = null;
        if (error is null) (response, error) = await AlarmAsync(c, request!);
        await (error is not null ? c.WriteErrorAsync(error) : c.WriteAsync(200, w => GatewayJsonWriter.Alarm(w, c.Header(c.Store.Store.CurrentRevision), response!)));
    }

    /// <summary>
    /// etcd's Maintenance.Alarm, shared with the gRPC service: every action (GET too) goes through
    /// Raft, so every member lists the same alarms.
    /// </summary>
    /// <remarks>
    /// With auth on, raising or clearing an alarm needs the root role (an alarm stops every write of
    /// the cluster); listing them needs a valid token or none, as etcd.
    /// </remarks>
    internal static async Task<(AlarmResponse? Response, EtcdError? Error)> AlarmAsync(GatewayContext c, AlarmRequest request)
    {
        if (request.Action != AlarmAction.Get && Auth.AuthChecker.CheckAdmin(c.Store.Auth, c.Http) is { } denied) return (null, denied);
        var (command, invalid) = Auth.AuthChecker.Stamp(c.Store.Auth, c.Http, KvCommandCodec.Encode(request));
        if (invalid is not null) return (null, invalid);
        var (result, error) = await c.ClusterAsync(ct => c.Node.ProposeAsync(command!, ct));
        if (error is not null) return (null, error);
        return result switch
        {
            AlarmResponse r => (r, null),
            KvError e => (null, EtcdError.From(e)),
            _ => (null, new EtcdError(GrpcCode.Unknown, $"unexpected answer {result}")),
        };
    }

    private static async Task Status(HttpContext http)
    {
        var c = GatewayContext.Of(http);
        var error = await ReadEmptyAsync(c);
        if (error is not null)
        {
            await c.WriteErrorAsync(error);
            return;
        }
        var (header, status) = StatusOf(c);
        await c.WriteAsync(200, w => GatewayJsonWriter.MaintenanceStatus(w, header, status));
    }

    /// <summary>
    /// Maintenance.Status's answer for this member, shared with the gRPC service. Errors as etcd's:
    /// "no leader" when there is none, then each active alarm in its protobuf text form.
    /// </summary>
    internal static (ResponseHeader Header, GatewayJsonWriter.Status Status) StatusOf(GatewayContext c)
    {
        var status = c.Node.Status;
        var store = c.Store.Store;
        var errors = new List<string>();
        if (status.Leader == 0) errors.Add(EtcdError.NoLeader.Message);
        foreach (var a in c.Store.Alarms) errors.Add(AlarmText(a));
        var s = new GatewayJsonWriter.Status(
            c.Options.Version, store.SizeBytes, status.Leader, status.CommitIndex, status.Term, status.AppliedIndex,
            errors, store.SizeInUseBytes, status.IsLearner);
        return (new ResponseHeader(c.Node.ClusterId, c.Node.MemberId, store.CurrentRevision, status.Term), s);
    }

    /// <summary>An alarm as etcd's Status lists it (gogo-protobuf's compact text of an AlarmMember).</summary>
    internal static string AlarmText(AlarmMember a) => $"memberID:{a.MemberId} alarm:{AlarmName(a.Alarm)} ";

    private static string AlarmName(AlarmType t) => t switch
    {
        AlarmType.NoSpace => "NOSPACE",
        AlarmType.Corrupt => "CORRUPT",
        _ => "NONE",
    };
}
