using Grpc.Core;
using Raft.Kv.Http;
using Raft.Kv.Mvcc;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Grpc;

/// <summary>
/// etcdserverpb.Maintenance over gRPC: Status (the gateway's answer), MoveLeader, Alarm (the
/// gateway's alarm path), Hash/HashKV over the MVCC store's history, Snapshot and Defragment (the
/// gateway's handlers).
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

    /// <summary>etcd's MoveLeader (<see cref="MaintenanceService.MoveLeaderAsync"/>, shared with the gateway).</summary>
    public override async Task<Pb.MoveLeaderResponse> MoveLeader(Pb.MoveLeaderRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var error = await MaintenanceService.MoveLeaderAsync(c, request.TargetID);
        return error is null ? new Pb.MoveLeaderResponse { Header = GrpcConvert.Header(c.Header()) } : throw error.ToRpc();
    }

    /// <summary>etcd's Maintenance.Alarm: GET, ACTIVATE and DEACTIVATE, through the gateway's alarm path (Raft).</summary>
    public override async Task<Pb.AlarmResponse> Alarm(Pb.AlarmRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (response, error) = await MaintenanceService.AlarmAsync(
            c, new AlarmRequest((AlarmAction)(int)request.Action, request.MemberID, (AlarmType)(int)request.Alarm));
        if (error is not null) throw error.ToRpc();
        var answer = new Pb.AlarmResponse { Header = GrpcConvert.Header(c.Header(c.Store.Store.CurrentRevision)) };
        foreach (var a in response!.Alarms)
            answer.Alarms.Add(new Pb.AlarmMember { MemberID = a.MemberId, Alarm = (Pb.AlarmType)(int)a.Alarm });
        return answer;
    }

    /// <summary>etcd's HashKV (<see cref="MaintenanceService.HashKVOf"/>, shared with the gateway).</summary>
    public override Task<Pb.HashKVResponse> HashKV(Pb.HashKVRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (answer, error) = MaintenanceService.HashKVOf(c, request.Revision);
        if (error is not null) throw error.ToRpc();
        return Task.FromResult(new Pb.HashKVResponse { Header = GrpcConvert.Header(answer!.Header), Hash = answer.Hash, CompactRevision = answer.CompactRevision });
    }

    /// <summary>etcd's Hash (<see cref="MaintenanceService.HashOf"/>, shared with the gateway).</summary>
    public override Task<Pb.HashResponse> Hash(Pb.HashRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (answer, error) = MaintenanceService.HashOf(c);
        if (error is not null) throw error.ToRpc();
        return Task.FromResult(new Pb.HashResponse { Header = GrpcConvert.Header(answer!.Header), Hash = answer.Hash });
    }

    /// <summary>
    /// etcd's Snapshot: the store's checkpoint in 32 KiB messages, then the SHA-256 trailer
    /// (<see cref="MaintenanceSnapshot"/>, shared with the gateway).
    /// </summary>
    public override async Task Snapshot(Pb.SnapshotRequest request, IServerStreamWriter<Pb.SnapshotResponse> responseStream, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        if (Auth.AuthChecker.CheckAdmin(c.Store.Auth, c.Http) is { } denied) throw denied.ToRpc();
        await MaintenanceSnapshot.SendAsync(c.Store.Store, (remaining, blob, ct) =>
            responseStream.WriteAsync(new Pb.SnapshotResponse { RemainingBytes = remaining, Blob = Google.Protobuf.ByteString.CopyFrom(blob.Span) }, ct),
            context.CancellationToken);
    }

    /// <summary>etcd's Defragment of this member's store (<see cref="MaintenanceService.DefragmentAsync"/>).</summary>
    public override async Task<Pb.DefragmentResponse> Defragment(Pb.DefragmentRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        if (await MaintenanceService.DefragmentAsync(c) is { } error) throw error.ToRpc();
        // etcd answers with an empty message (no header).
        return new Pb.DefragmentResponse();
    }
}
