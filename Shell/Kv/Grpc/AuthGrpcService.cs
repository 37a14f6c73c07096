using Google.Protobuf;
using Grpc.Core;
using Raft.Kv.Auth;
using Raft.Kv.Http;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Grpc;

/// <summary>
/// etcdserverpb.Auth over gRPC. Each method is a static handler on a <see cref="GatewayContext"/>
/// (through <see cref="AuthOperations"/>), which the gateway's <c>/v3/auth/*</c> (<see cref="AuthGateway"/>)
/// calls too; failures are thrown as etcd's gRPC status.
/// </summary>
internal sealed class AuthGrpcService : Pb.Auth.AuthBase
{
    private static GatewayContext Of(ServerCallContext context) => GatewayContext.Of(context.GetHttpContext());

    public override Task<Pb.AuthEnableResponse> AuthEnable(Pb.AuthEnableRequest request, ServerCallContext context) => EnableAsync(Of(context), request);
    public override Task<Pb.AuthDisableResponse> AuthDisable(Pb.AuthDisableRequest request, ServerCallContext context) => DisableAsync(Of(context), request);
    public override Task<Pb.AuthStatusResponse> AuthStatus(Pb.AuthStatusRequest request, ServerCallContext context) => StatusAsync(Of(context), request);
    public override Task<Pb.AuthenticateResponse> Authenticate(Pb.AuthenticateRequest request, ServerCallContext context) => AuthenticateAsync(Of(context), request);
    public override Task<Pb.AuthUserAddResponse> UserAdd(Pb.AuthUserAddRequest request, ServerCallContext context) => UserAddAsync(Of(context), request);
    public override Task<Pb.AuthUserGetResponse> UserGet(Pb.AuthUserGetRequest request, ServerCallContext context) => UserGetAsync(Of(context), request);
    public override Task<Pb.AuthUserListResponse> UserList(Pb.AuthUserListRequest request, ServerCallContext context) => UserListAsync(Of(context), request);
    public override Task<Pb.AuthUserDeleteResponse> UserDelete(Pb.AuthUserDeleteRequest request, ServerCallContext context) => UserDeleteAsync(Of(context), request);
    public override Task<Pb.AuthUserChangePasswordResponse> UserChangePassword(Pb.AuthUserChangePasswordRequest request, ServerCallContext context) => UserChangePasswordAsync(Of(context), request);
    public override Task<Pb.AuthUserGrantRoleResponse> UserGrantRole(Pb.AuthUserGrantRoleRequest request, ServerCallContext context) => UserGrantRoleAsync(Of(context), request);
    public override Task<Pb.AuthUserRevokeRoleResponse> UserRevokeRole(Pb.AuthUserRevokeRoleRequest request, ServerCallContext context) => UserRevokeRoleAsync(Of(context), request);
    public override Task<Pb.AuthRoleAddResponse> RoleAdd(Pb.AuthRoleAddRequest request, ServerCallContext context) => RoleAddAsync(Of(context), request);
    public override Task<Pb.AuthRoleGetResponse> RoleGet(Pb.AuthRoleGetRequest request, ServerCallContext context) => RoleGetAsync(Of(context), request);
    public override Task<Pb.AuthRoleListResponse> RoleList(Pb.AuthRoleListRequest request, ServerCallContext context) => RoleListAsync(Of(context), request);
    public override Task<Pb.AuthRoleDeleteResponse> RoleDelete(Pb.AuthRoleDeleteRequest request, ServerCallContext context) => RoleDeleteAsync(Of(context), request);
    public override Task<Pb.AuthRoleGrantPermissionResponse> RoleGrantPermission(Pb.AuthRoleGrantPermissionRequest request, ServerCallContext context) => RoleGrantPermissionAsync(Of(context), request);
    public override Task<Pb.AuthRoleRevokePermissionResponse> RoleRevokePermission(Pb.AuthRoleRevokePermissionRequest request, ServerCallContext context) => RoleRevokePermissionAsync(Of(context), request);

    private static Pb.ResponseHeader Header(GatewayContext c) => GrpcConvert.Header(c.Header(c.Store.Store.CurrentRevision));

    private static async Task<T> Change<T>(GatewayContext c, Task<(bool Ok, EtcdError? Error)> change, Func<Pb.ResponseHeader, T> answer)
    {
        var (_, error) = await change;
        return error is null ? answer(Header(c)) : throw error.ToRpc();
    }

    private static Task<T> Propose<T>(GatewayContext c, Pb.InternalRaftRequest request, Func<Pb.ResponseHeader, T> answer) =>
        Change(c, AuthOperations.ChangeAsync(c, request), answer);

    internal static Task<Pb.AuthEnableResponse> EnableAsync(GatewayContext c, Pb.AuthEnableRequest request) =>
        Change(c, AuthOperations.EnableAsync(c), h => new Pb.AuthEnableResponse { Header = h });

    internal static Task<Pb.AuthDisableResponse> DisableAsync(GatewayContext c, Pb.AuthDisableRequest request) =>
        Change(c, AuthOperations.DisableAsync(c), h => new Pb.AuthDisableResponse { Header = h });

    internal static async Task<Pb.AuthStatusResponse> StatusAsync(GatewayContext c, Pb.AuthStatusRequest request)
    {
        var (response, error) = await AuthOperations.StatusAsync(c);
        if (error is not null) throw error.ToRpc();
        response!.Header = Header(c);
        return response;
    }

    internal static async Task<Pb.AuthenticateResponse> AuthenticateAsync(GatewayContext c, Pb.AuthenticateRequest request)
    {
        var (token, error) = await AuthOperations.AuthenticateAsync(c, request);
        return error is null ? new Pb.AuthenticateResponse { Header = Header(c), Token = token } : throw error.ToRpc();
    }

    internal static Task<Pb.AuthUserAddResponse> UserAddAsync(GatewayContext c, Pb.AuthUserAddRequest request) =>
        Change(c, AuthOperations.UserAddAsync(c, request), h => new Pb.AuthUserAddResponse { Header = h });

    internal static async Task<Pb.AuthUserGetResponse> UserGetAsync(GatewayContext c, Pb.AuthUserGetRequest request)
    {
        var (roles, error) = await AuthOperations.UserGetAsync(c, request.Name);
        if (error is not null) throw error.ToRpc();
        var response = new Pb.AuthUserGetResponse { Header = Header(c) };
        response.Roles.AddRange(roles);
        return response;
    }

    internal static async Task<Pb.AuthUserListResponse> UserListAsync(GatewayContext c, Pb.AuthUserListRequest request)
    {
        var (users, error) = await AuthOperations.UserListAsync(c);
        if (error is not null) throw error.ToRpc();
        var response = new Pb.AuthUserListResponse { Header = Header(c) };
        response.Users.AddRange(users);
        return response;
    }

    internal static Task<Pb.AuthUserDeleteResponse> UserDeleteAsync(GatewayContext c, Pb.AuthUserDeleteRequest request) =>
        Propose(c, new Pb.InternalRaftRequest { AuthUserDelete = request }, h => new Pb.AuthUserDeleteResponse { Header = h });

    internal static Task<Pb.AuthUserChangePasswordResponse> UserChangePasswordAsync(GatewayContext c, Pb.AuthUserChangePasswordRequest request) =>
        Change(c, AuthOperations.UserChangePasswordAsync(c, request), h => new Pb.AuthUserChangePasswordResponse { Header = h });

    internal static Task<Pb.AuthUserGrantRoleResponse> UserGrantRoleAsync(GatewayContext c, Pb.AuthUserGrantRoleRequest request) =>
        Propose(c, new Pb.InternalRaftRequest { AuthUserGrantRole = request }, h => new Pb.AuthUserGrantRoleResponse { Header = h });

    internal static Task<Pb.AuthUserRevokeRoleResponse> UserRevokeRoleAsync(GatewayContext c, Pb.AuthUserRevokeRoleRequest request) =>
        Propose(c, new Pb.InternalRaftRequest { AuthUserRevokeRole = request }, h => new Pb.AuthUserRevokeRoleResponse { Header = h });

    internal static Task<Pb.AuthRoleAddResponse> RoleAddAsync(GatewayContext c, Pb.AuthRoleAddRequest request) =>
        Propose(c, new Pb.InternalRaftRequest { AuthRoleAdd = request }, h => new Pb.AuthRoleAddResponse { Header = h });

    internal static async Task<Pb.AuthRoleGetResponse> RoleGetAsync(GatewayContext c, Pb.AuthRoleGetRequest request)
    {
        var (perms, error) = await AuthOperations.RoleGetAsync(c, request.Role);
        if (error is not null) throw error.ToRpc();
        var response = new Pb.AuthRoleGetResponse { Header = Header(c) };
        response.Perm.AddRange(perms!.Select(p => new Pb.Permission
        {
            PermType = (Pb.Permission.Types.Type)p.Type, Key = ByteString.CopyFrom(p.Key), RangeEnd = ByteString.CopyFrom(p.RangeEnd),
        }));
        return response;
    }

    internal static async Task<Pb.AuthRoleListResponse> RoleListAsync(GatewayContext c, Pb.AuthRoleListRequest request)
    {
        var (roles, error) = await AuthOperations.RoleListAsync(c);
        if (error is not null) throw error.ToRpc();
        var response = new Pb.AuthRoleListResponse { Header = Header(c) };
        response.Roles.AddRange(roles);
        return response;
    }

    internal static Task<Pb.AuthRoleDeleteResponse> RoleDeleteAsync(GatewayContext c, Pb.AuthRoleDeleteRequest request) =>
        Propose(c, new Pb.InternalRaftRequest { AuthRoleDelete = request }, h => new Pb.AuthRoleDeleteResponse { Header = h });

    internal static Task<Pb.AuthRoleGrantPermissionResponse> RoleGrantPermissionAsync(GatewayContext c, Pb.AuthRoleGrantPermissionRequest request) =>
        Propose(c, new Pb.InternalRaftRequest { AuthRoleGrantPermission = request }, h => new Pb.AuthRoleGrantPermissionResponse { Header = h });

    internal static Task<Pb.AuthRoleRevokePermissionResponse> RoleRevokePermissionAsync(GatewayContext c, Pb.AuthRoleRevokePermissionRequest request) =>
        Propose(c, new Pb.InternalRaftRequest { AuthRoleRevokePermission = request }, h => new Pb.AuthRoleRevokePermissionResponse { Header = h });
}
