using Google.Protobuf;
using Grpc.Core;
using Raft.Kv.Auth;
using Raft.Kv.Http;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Grpc;

/// <summary>etcdserverpb.Auth over gRPC, through the same handlers as the gateway's <c>/v3/auth/*</c> (<see cref="AuthOperations"/>).</summary>
internal sealed class AuthGrpcService : Pb.Auth.AuthBase
{
    private static Pb.ResponseHeader Header(GatewayContext c) => GrpcConvert.Header(c.Header(c.Store.Store.CurrentRevision));

    private static async Task<T> Change<T>(ServerCallContext context, Func<GatewayContext, Task<(bool Ok, EtcdError? Error)>> change, Func<Pb.ResponseHeader, T> answer)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (_, error) = await change(c);
        return error is null ? answer(Header(c)) : throw error.ToRpc();
    }

    private static Task<T> Change<T>(ServerCallContext context, Pb.InternalRaftRequest request, Func<Pb.ResponseHeader, T> answer) =>
        Change(context, c => AuthOperations.ChangeAsync(c, request), answer);

    public override Task<Pb.AuthEnableResponse> AuthEnable(Pb.AuthEnableRequest request, ServerCallContext context) =>
        Change(context, AuthOperations.EnableAsync, h => new Pb.AuthEnableResponse { Header = h });

    public override Task<Pb.AuthDisableResponse> AuthDisable(Pb.AuthDisableRequest request, ServerCallContext context) =>
        Change(context, AuthOperations.DisableAsync, h => new Pb.AuthDisableResponse { Header = h });

    public override async Task<Pb.AuthStatusResponse> AuthStatus(Pb.AuthStatusRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (response, error) = await AuthOperations.StatusAsync(c);
        if (error is not null) throw error.ToRpc();
        response!.Header = Header(c);
        return response;
    }

    public override async Task<Pb.AuthenticateResponse> Authenticate(Pb.AuthenticateRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (token, error) = await AuthOperations.AuthenticateAsync(c, request);
        return error is null ? new Pb.AuthenticateResponse { Header = Header(c), Token = token } : throw error.ToRpc();
    }

    public override Task<Pb.AuthUserAddResponse> UserAdd(Pb.AuthUserAddRequest request, ServerCallContext context) =>
        Change(context, c => AuthOperations.UserAddAsync(c, request), h => new Pb.AuthUserAddResponse { Header = h });

    public override async Task<Pb.AuthUserGetResponse> UserGet(Pb.AuthUserGetRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (roles, error) = await AuthOperations.UserGetAsync(c, request.Name);
        if (error is not null) throw error.ToRpc();
        var response = new Pb.AuthUserGetResponse { Header = Header(c) };
        response.Roles.AddRange(roles);
        return response;
    }

    public override async Task<Pb.AuthUserListResponse> UserList(Pb.AuthUserListRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (users, error) = await AuthOperations.UserListAsync(c);
        if (error is not null) throw error.ToRpc();
        var response = new Pb.AuthUserListResponse { Header = Header(c) };
        response.Users.AddRange(users);
        return response;
    }

    public override Task<Pb.AuthUserDeleteResponse> UserDelete(Pb.AuthUserDeleteRequest request, ServerCallContext context) =>
        Change(context, new Pb.InternalRaftRequest { AuthUserDelete = request }, h => new Pb.AuthUserDeleteResponse { Header = h });

    public override Task<Pb.AuthUserChangePasswordResponse> UserChangePassword(Pb.AuthUserChangePasswordRequest request, ServerCallContext context) =>
        Change(context, c => AuthOperations.UserChangePasswordAsync(c, request), h => new Pb.AuthUserChangePasswordResponse { Header = h });

    public override Task<Pb.AuthUserGrantRoleResponse> UserGrantRole(Pb.AuthUserGrantRoleRequest request, ServerCallContext context) =>
        Change(context, new Pb.InternalRaftRequest { AuthUserGrantRole = request }, h => new Pb.AuthUserGrantRoleResponse { Header = h });

    public override Task<Pb.AuthUserRevokeRoleResponse> UserRevokeRole(Pb.AuthUserRevokeRoleRequest request, ServerCallContext context) =>
        Change(context, new Pb.InternalRaftRequest { AuthUserRevokeRole = request }, h => new Pb.AuthUserRevokeRoleResponse { Header = h });

    public override Task<Pb.AuthRoleAddResponse> RoleAdd(Pb.AuthRoleAddRequest request, ServerCallContext context) =>
        Change(context, new Pb.InternalRaftRequest { AuthRoleAdd = request }, h => new Pb.AuthRoleAddResponse { Header = h });

    public override async Task<Pb.AuthRoleGetResponse> RoleGet(Pb.AuthRoleGetRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (perms, error) = await AuthOperations.RoleGetAsync(c, request.Role);
        if (error is not null) throw error.ToRpc();
        var response = new Pb.AuthRoleGetResponse { Header = Header(c) };
        response.Perm.AddRange(perms!.Select(ToProto));
        return response;
    }

    public override async Task<Pb.AuthRoleListResponse> RoleList(Pb.AuthRoleListRequest request, ServerCallContext context)
    {
        var c = GatewayContext.Of(context.GetHttpContext());
        var (roles, error) = await AuthOperations.RoleListAsync(c);
        if (error is not null) throw error.ToRpc();
        var response = new Pb.AuthRoleListResponse { Header = Header(c) };
        response.Roles.AddRange(roles);
        return response;
    }

    public override Task<Pb.AuthRoleDeleteResponse> RoleDelete(Pb.AuthRoleDeleteRequest request, ServerCallContext context) =>
        Change(context, new Pb.InternalRaftRequest { AuthRoleDelete = request }, h => new Pb.AuthRoleDeleteResponse { Header = h });

    public override Task<Pb.AuthRoleGrantPermissionResponse> RoleGrantPermission(Pb.AuthRoleGrantPermissionRequest request, ServerCallContext context) =>
        Change(context, new Pb.InternalRaftRequest { AuthRoleGrantPermission = request }, h => new Pb.AuthRoleGrantPermissionResponse { Header = h });

    public override Task<Pb.AuthRoleRevokePermissionResponse> RoleRevokePermission(Pb.AuthRoleRevokePermissionRequest request, ServerCallContext context) =>
        Change(context, new Pb.InternalRaftRequest { AuthRoleRevokePermission = request }, h => new Pb.AuthRoleRevokePermissionResponse { Header = h });

    internal static Pb.Permission ToProto(KeyPermission p) =>
        new() { PermType = (Pb.Permission.Types.Type)p.Type, Key = ByteString.CopyFrom(p.Key), RangeEnd = ByteString.CopyFrom(p.RangeEnd) };
}
