using System.Numerics;
using Grpc.Core;
using Raft.Kv.Codec;
using Raft.Kv.Http;
using Raft.Kv.Mvcc;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Grpc;

/// <summary>
/// etcdserverpb.Maintenance over gRPC: Status (the gateway's answer), MoveLeader, Alarm GET (no
/// alarm exists yet), and Hash/HashKV over the store's current state. Alarm changes, Snapshot and
/// Defragment are not served yet (they need the MVCC store).
/// </summary>
internal sealed class MaintenanceGrpcService : Pb.Maintenance.MaintenanceBase
{
    public override Task<Pb.StatusResponse> Status(Pb.StatusRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (header, s) = MaintenanceService.StatusOf(c);
        var response = new Pb.StatusResponse
        {
            Header = GrpcConvert.Header(header),
            Version = s.Version,
            DbSize = s.DbSize,
            Leader = s.Leader,
            RaftIndex = s.RaftIndex,
            RaftTerm = s.RaftTerm,
            RaftAppliedIndex = s.RaftAppliedIndex,
            DbSizeInUse = s.DbSizeInUse,
            IsLearner = s.IsLearner,
        };
        response.Errors.Add(s.Errors);
        return Task.FromResult(response);
    }

    /// <summary>etcd's MoveLeader: only the leader hands leadership over (etcdctl finds it first).</summary>
    public override async Task<Pb.MoveLeaderResponse> MoveLeader(Pb.MoveLeaderRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        if (c.Node.Status.Leader != c.Node.MemberId) throw EtcdError.NotLeader.ToRpc();
        var (_, error) = await c.ClusterAsync(async ct =>
        {
            await c.Node.TransferLeadershipAsync(request.TargetID, ct);
            return true;
        });
        return error is null ? new Pb.MoveLeaderResponse { Header = GrpcConvert.Header(c.Header()) } : throw error.ToRpc();
    }

    public override Task<Pb.AlarmResponse> Alarm(Pb.AlarmRequest request, ServerCallContext context)
    {
        if (request.Action != Pb.AlarmRequest.Types.AlarmAction.Get)
            throw GrpcConvert.Unimplemented("Alarm activate and deactivate (alarms come with the MVCC store)");
        var c = GatewayContext.Of(context.GetHttpContext());
        return Task.FromResult(new Pb.AlarmResponse { Header = GrpcConvert.Header(c.Header(c.Store.Current.Revision)) });
    }

    /// <summary>
    /// HashKV: CRC-32C (etcd's polynomial) of the store's snapshot encoding at the current revision, so
    /// members at one revision answer one hash. Only the current revision is kept: an older one is
    /// compacted, a newer one is in the future, as a range at it would answer.
    /// </summary>
    public override Task<Pb.HashKVResponse> HashKV(Pb.HashKVRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var state = c.Store.Current;
        if (request.Revision > state.Revision) throw EtcdError.From(KvError.FutureRevision).ToRpc();
        if (request.Revision != 0 && request.Revision < state.Revision) throw EtcdError.From(KvError.Compacted).ToRpc();
        return Task.FromResult(new Pb.HashKVResponse { Header = GrpcConvert.Header(c.Header(state.Revision)), Hash = Hash(state) });
    }

    /// <summary>Hash: etcd hashes its whole database file; here the same bytes as HashKV at the current revision.</summary>
    public override Task<Pb.HashResponse> Hash(Pb.HashRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var state = c.Store.Current;
        return Task.FromResult(new Pb.HashResponse { Header = GrpcConvert.Header(c.Header(state.Revision)), Hash = Hash(state) });
    }

    private static uint Hash(KvState state)
    {
        // Go's crc32.Checksum with the Castagnoli table: initial and final inversion.
        var crc = uint.MaxValue;
        foreach (var b in KvSnapshotCodec.Encode(state)) crc = BitOperations.Crc32C(crc, b);
        return ~crc;
    }

    public override Task Snapshot(Pb.SnapshotRequest request, IServerStreamWriter<Pb.SnapshotResponse> responseStream, ServerCallContext context) =>
        throw GrpcConvert.Unimplemented("Snapshot (it comes with the MVCC store's snapshot file)");

    public override Task<Pb.DefragmentResponse> Defragment(Pb.DefragmentRequest request, ServerCallContext context) =>
        throw GrpcConvert.Unimplemented("Defragment (it comes with the MVCC store)");
}
