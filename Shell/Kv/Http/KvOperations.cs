using Raft.Kv.Auth;
using Raft.Kv.Codec;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Http;

/// <summary>
/// The KV service's handlers without their wire format: the JSON gateway (<see cref="KvService"/>)
/// and the gRPC service (<c>Grpc.KvGrpcService</c>) decode a request, call one of these, and encode
/// the answer, so both answer the same way, as etcd's gateway is a client of etcd's gRPC service.
/// </summary>
internal static class KvOperations
{
    /// <summary>Range: request check, the linearizable barrier (or the start-up replay wait), the local read.</summary>
    public static async Task<(RangeResponse? Response, EtcdError? Error)> RangeAsync(GatewayContext c, RangeRequest request)
    {
        var (caller, error) = request.Check() is { } invalid ? (null, EtcdError.From(invalid)) : AuthChecker.Info(c.Store.Auth, c.Http);
        error ??= AuthChecker.CheckKv(c.Store.Auth, caller, request, _ => []);
        if (error is null && !request.Serializable) (_, error) = await c.BarrierAsync();
        // A restarted member replays its committed log while it already serves, and the apply loop
        // runs ahead of the save of the commit that allowed it: a local read waits for both, or a
        // restart could answer an older revision than the member answered before.
        if (error is null && request.Serializable && c.Node is Raft.Shell.Node.RaftNode { LocalReadIsDurable: false } node)
            (_, error) = await c.ClusterAsync(async ct =>
            {
                await node.WhenLocalReadIsDurableAsync(ct);
                return true;
            });
        if (error is not null) return (null, error);
        // A lagging follower installing the leader's checkpoint has no store for a moment.
        var (result, replacing) = await c.Store.ReadAcrossReplacementAsync<object, EtcdError>(() => c.Store.Range(request),
            async replaced => (await c.ClusterAsync(async ct =>
            {
                await replaced.WaitAsync(ct);
                return true;
            })).Error);
        if (replacing is not null) return (null, replacing);
        // etcd's doSerialize: an auth change while reading may have revoked the permission.
        if (caller is not null && caller.Revision != c.Store.Auth.Revision) return (null, AuthErrors.AuthOldRevision);
        return result switch
        {
            RangeResponse r => (r, null),
            KvError e => (null, EtcdError.From(e)),
            var other => throw new InvalidOperationException($"the store answered a range with {other?.GetType().Name ?? "null"}"),
        };
    }

    /// <summary>Put: request check, then proposed through raft and answered once applied here.</summary>
    public static Task<(PutResponse? Response, EtcdError? Error)> PutAsync(GatewayContext c, PutRequest request) =>
        CheckThenProposeAsync<PutResponse>(c, request, request.Check(), () => KvCommandCodec.Encode(request));

    /// <summary>DeleteRange: request check, then proposed through raft and answered once applied here.</summary>
    public static Task<(DeleteRangeResponse? Response, EtcdError? Error)> DeleteRangeAsync(GatewayContext c, DeleteRangeRequest request) =>
        CheckThenProposeAsync<DeleteRangeResponse>(c, request, request.Check(), () => KvCommandCodec.Encode(request));

    /// <summary>Txn: request check, then proposed through raft and answered once applied here.</summary>
    public static Task<(TxnResponse? Response, EtcdError? Error)> TxnAsync(GatewayContext c, TxnRequest request) =>
        CheckThenProposeAsync<TxnResponse>(c, request, request.Check(), () => KvCommandCodec.Encode(request));

    /// <summary>Compact: proposed through raft and answered once applied here.</summary>
    public static Task<(CompactionResponse? Response, EtcdError? Error)> CompactAsync(GatewayContext c, CompactionRequest request) =>
        AuthChecker.CheckAdmin(c.Store.Auth, c.Http) is { } denied
            ? Task.FromResult<(CompactionResponse?, EtcdError?)>((null, denied))
            : ProposeAsync<CompactionResponse>(c, KvCommandCodec.Encode(request));

    // A write: the request's own check, then the caller's permissions, then Raft.
    private static Task<(T? Response, EtcdError? Error)> CheckThenProposeAsync<T>(GatewayContext c, IKvRequest request, KvError? invalid, Func<byte[]> encode) where T : class =>
        (invalid is not null ? EtcdError.From(invalid) : AuthChecker.CheckKv(c.Store.Auth, c.Http, request)) is { } error
            ? Task.FromResult<(T?, EtcdError?)>((null, error))
            : ProposeAsync<T>(c, encode());

    /// <summary>Proposes a command and returns the applied result, once the node has applied it.</summary>
    private static async Task<(T? Response, EtcdError? Error)> ProposeAsync<T>(GatewayContext c, byte[] command) where T : class
    {
        // etcd checks the marshalled request against --max-request-bytes; gRPC refuses far larger ones first.
        var requestSize = KvCommandCodec.RequestSize(command);
        if (requestSize > c.Options.EffectiveMaxRecvBytes)
            return (null, EtcdError.MessageLargerThanMax(requestSize, c.Options.EffectiveMaxRecvBytes));
        if (command.Length > c.Options.MaxRequestBytes)
            return (null, EtcdError.RequestTooLarge);
        if (await QuotaExceededAsync(c, command) is { } full)
            return (null, full);
        return await ProposeStampedAsync<T>(c, command);
    }

    /// <summary>
    /// Stamps a command with the caller (etcd's RequestHeader, checked again at apply), proposes it
    /// and returns the applied result; the state machine's refusals come back as errors.
    /// </summary>
    internal static async Task<(T? Response, EtcdError? Error)> ProposeStampedAsync<T>(GatewayContext c, byte[] command) where T : class
    {
        var (stamped, invalid) = AuthChecker.Stamp(c.Store.Auth, c.Http, command);
        if (invalid is not null) return (null, invalid);
        var (result, error) = await c.ClusterAsync(ct => c.Node.ProposeAsync(stamped!, ct));
        if (error is null && result is KvError kvError) error = EtcdError.From(kvError);
        if (error is null && result is EtcdError denied) error = denied;
        if (error is not null) return (null, error);
        return result is T response
            ? (response, null)
            : throw new InvalidOperationException($"the state machine answered a {typeof(T).Name} command with {result?.GetType().Name ?? "null"} (is the node running a KvStateMachine?)");
    }

    // etcd's backendQuota.Available with the default 2 GiB: a write that would take the backend past
    // the quota raises NOSPACE for this member through Raft (so every member refuses writes) and fails.
    private const long DefaultQuotaBytes = 2L * 1024 * 1024 * 1024;
    private const int KvOverheadBytes = 256;

    private static async Task<EtcdError?> QuotaExceededAsync(GatewayContext c, byte[] command)
    {
        var quota = c.Options.QuotaBackendBytes == 0 ? DefaultQuotaBytes : c.Options.QuotaBackendBytes;
        if (quota < 0) return null;
        // The size first: decoding the command (a copy of its bytes) is needed only near the quota.
        if (c.Store.Store.SizeBytes + command.Length + KvOverheadBytes < quota) return null;
        var decoded = KvCommandCodec.Decode(command);
        if (decoded is not (PutRequest or TxnRequest)) return null;
        if (decoded is TxnRequest t && !KvApplier.IsWrite(t)) return null;
        var alarm = KvCommandCodec.Encode(new AlarmRequest(AlarmAction.Activate, c.Node.MemberId, AlarmType.NoSpace));
        var (_, error) = await c.ClusterAsync(ct => c.Node.ProposeAsync(alarm, ct));
        return error ?? EtcdError.From(KvError.NoSpace);
    }
}
