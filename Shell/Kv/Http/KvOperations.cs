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
        var error = request.Check() is { } invalid ? EtcdError.From(invalid) : null;
        if (error is null && !request.Serializable) (_, error) = await c.BarrierAsync();
        // A restarted member replays its committed log while it already serves: a local read before
        // the replay is done would answer an older revision than the member answered before.
        if (error is null && request.Serializable && c.Node is Raft.Shell.Node.RaftNode { AppliedCommittedAtStart.IsCompleted: false } node)
            (_, error) = await c.ClusterAsync(async ct =>
            {
                await node.AppliedCommittedAtStart.WaitAsync(ct);
                return true;
            });
        if (error is not null) return (null, error);
        return c.Store.Range(request) switch
        {
            RangeResponse r => (r, null),
            KvError e => (null, EtcdError.From(e)),
            var other => throw new InvalidOperationException($"the store answered a range with {other?.GetType().Name ?? "null"}"),
        };
    }

    /// <summary>Put: request check, then proposed through raft and answered once applied here.</summary>
    public static Task<(PutResponse? Response, EtcdError? Error)> PutAsync(GatewayContext c, PutRequest request) =>
        request.Check() is { } invalid
            ? Task.FromResult<(PutResponse?, EtcdError?)>((null, EtcdError.From(invalid)))
            : ProposeAsync<PutResponse>(c, KvCommandCodec.Encode(request));

    /// <summary>DeleteRange: request check, then proposed through raft and answered once applied here.</summary>
    public static Task<(DeleteRangeResponse? Response, EtcdError? Error)> DeleteRangeAsync(GatewayContext c, DeleteRangeRequest request) =>
        request.Check() is { } invalid
            ? Task.FromResult<(DeleteRangeResponse?, EtcdError?)>((null, EtcdError.From(invalid)))
            : ProposeAsync<DeleteRangeResponse>(c, KvCommandCodec.Encode(request));

    /// <summary>Proposes a command and returns the applied result, once the node has applied it.</summary>
    private static async Task<(T? Response, EtcdError? Error)> ProposeAsync<T>(GatewayContext c, byte[] command) where T : class
    {
        // etcd checks the marshalled request against --max-request-bytes; gRPC refuses far larger ones first.
        var requestSize = KvCommandCodec.RequestSize(command);
        if (requestSize > c.Options.MaxRequestBytes + GatewayContext.GrpcOverheadBytes)
            return (null, EtcdError.MessageLargerThanMax(requestSize, c.Options.MaxRequestBytes + GatewayContext.GrpcOverheadBytes));
        if (command.Length > c.Options.MaxRequestBytes)
            return (null, EtcdError.RequestTooLarge);
        var (result, error) = await c.ClusterAsync(ct => c.Node.ProposeAsync(command, ct));
        if (error is null && result is KvError kvError) error = EtcdError.From(kvError);
        if (error is not null) return (null, error);
        return result is T response
            ? (response, null)
            : throw new InvalidOperationException($"the state machine answered a command with {result?.GetType().Name ?? "null"} (is the node running a KvStateMachine?)");
    }
}
