using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Raft.Kv.Grpc;
using Raft.Kv.Http;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Auth;

/// <summary>
/// etcd's gateway paths of the Auth service (<c>/v3/auth/enable</c>, <c>/v3/auth/authenticate</c>,
/// <c>/v3/auth/user/add</c> ...): the body is the request message in protobuf's JSON, the answer
/// the response message with the proto field names (as grpc-gateway's OrigName), through the gRPC
/// service's handlers. The token goes in the <c>Authorization</c> header.
/// </summary>
internal static class AuthGateway
{
    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithPreserveProtoFieldNames(true));

    public static void Map(IEndpointRouteBuilder endpoints, SharedServices services)
    {
        void M<TRequest, TResponse>(string path, Func<GatewayContext, TRequest, Task<TResponse>> handler)
            where TRequest : IMessage<TRequest>, new() where TResponse : IMessage =>
            GatewayContext.MapGateway(endpoints, services, "/v3/auth/" + path, http => Serve(http, handler));

        M<Pb.AuthEnableRequest, Pb.AuthEnableResponse>("enable", AuthGrpcService.EnableAsync);
        M<Pb.AuthDisableRequest, Pb.AuthDisableResponse>("disable", AuthGrpcService.DisableAsync);
        M<Pb.AuthStatusRequest, Pb.AuthStatusResponse>("status", AuthGrpcService.StatusAsync);
        M<Pb.AuthenticateRequest, Pb.AuthenticateResponse>("authenticate", AuthGrpcService.AuthenticateAsync);
        M<Pb.AuthUserAddRequest, Pb.AuthUserAddResponse>("user/add", AuthGrpcService.UserAddAsync);
        M<Pb.AuthUserGetRequest, Pb.AuthUserGetResponse>("user/get", AuthGrpcService.UserGetAsync);
        M<Pb.AuthUserListRequest, Pb.AuthUserListResponse>("user/list", AuthGrpcService.UserListAsync);
        M<Pb.AuthUserDeleteRequest, Pb.AuthUserDeleteResponse>("user/delete", AuthGrpcService.UserDeleteAsync);
        M<Pb.AuthUserChangePasswordRequest, Pb.AuthUserChangePasswordResponse>("user/changepw", AuthGrpcService.UserChangePasswordAsync);
        M<Pb.AuthUserGrantRoleRequest, Pb.AuthUserGrantRoleResponse>("user/grant", AuthGrpcService.UserGrantRoleAsync);
        M<Pb.AuthUserRevokeRoleRequest, Pb.AuthUserRevokeRoleResponse>("user/revoke", AuthGrpcService.UserRevokeRoleAsync);
        M<Pb.AuthRoleAddRequest, Pb.AuthRoleAddResponse>("role/add", AuthGrpcService.RoleAddAsync);
        M<Pb.AuthRoleGetRequest, Pb.AuthRoleGetResponse>("role/get", AuthGrpcService.RoleGetAsync);
        M<Pb.AuthRoleListRequest, Pb.AuthRoleListResponse>("role/list", AuthGrpcService.RoleListAsync);
        M<Pb.AuthRoleDeleteRequest, Pb.AuthRoleDeleteResponse>("role/delete", AuthGrpcService.RoleDeleteAsync);
        M<Pb.AuthRoleGrantPermissionRequest, Pb.AuthRoleGrantPermissionResponse>("role/grant", AuthGrpcService.RoleGrantPermissionAsync);
        M<Pb.AuthRoleRevokePermissionRequest, Pb.AuthRoleRevokePermissionResponse>("role/revoke", AuthGrpcService.RoleRevokePermissionAsync);
    }

    private static async Task Serve<TRequest, TResponse>(HttpContext http, Func<GatewayContext, TRequest, Task<TResponse>> handler)
        where TRequest : IMessage<TRequest>, new() where TResponse : IMessage
    {
        var c = GatewayContext.Of(http);
        var (request, error) = await c.ReadAsync((System.Buffers.ReadOnlySequence<byte> body, out TRequest parsed) =>
        {
            parsed = new TRequest();
            var text = Encoding.UTF8.GetString(body);
            if (string.IsNullOrWhiteSpace(text)) return null;
            try
            {
                parsed = Parser.Parse<TRequest>(text);
                return null;
            }
            catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidJsonException or FormatException)
            {
                return EtcdError.BadRequest(ex.Message);
            }
        });
        if (error is not null)
        {
            await c.WriteErrorAsync(error);
            return;
        }
        TResponse response;
        try
        {
            response = await handler(c, request!);
        }
        catch (RpcException ex)
        {
            await c.WriteErrorAsync(new EtcdError((GrpcCode)(int)ex.StatusCode, ex.Status.Detail));
            return;
        }
        var json = Encoding.UTF8.GetBytes(Formatter.Format(response));
        http.Response.StatusCode = 200;
        http.Response.ContentType = "application/json";
        http.Response.ContentLength = json.Length;
        await http.Response.Body.WriteAsync(json, http.RequestAborted);
    }
}
