using Google.Protobuf;
using Raft.Kv.Http;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Auth;

/// <summary>
/// The Auth service's handlers, shared by the gRPC service and the JSON gateway (<c>/v3/auth/*</c>):
/// changes go through Raft as etcd's auth requests; reads are answered here after a linearizable read
/// barrier. Passwords are checked and hashed here, on the member that took the request, so no Raft
/// entry (nor log line) holds a password.
/// </summary>
internal static class AuthOperations
{
    public static Task<(bool Ok, EtcdError? Error)> EnableAsync(GatewayContext c) =>
        ProposeAsync(c, new Pb.InternalRaftRequest { AuthEnable = new Pb.AuthEnableRequest() }, admin: c.Store.Auth.Enabled);

    public static Task<(bool Ok, EtcdError? Error)> DisableAsync(GatewayContext c) =>
        ProposeAsync(c, new Pb.InternalRaftRequest { AuthDisable = new Pb.AuthDisableRequest() });

    /// <summary>
    /// etcd's Authenticate: the password checked here (bcrypt), then a token proposed and assigned on
    /// every member. As etcd, when the auth store changed between the check and the apply (a password
    /// changed, a user deleted and added again), the password is checked again and a new token drawn.
    /// </summary>
    public static async Task<(string? Token, EtcdError? Error)> AuthenticateAsync(GatewayContext c, Pb.AuthenticateRequest request)
    {
        for (var attempt = 0; ; attempt++)
        {
            var checkedAt = c.Store.Auth.Revision;
            if (c.Store.Auth.CheckPassword(request.Name, request.Password) is { } failed)
            {
                c.Logger.LogAuthFailure(request.Name);
                return (null, failed);
            }
            var entry = new Pb.InternalRaftRequest { Authenticate = new Pb.InternalAuthenticateRequest { Name = request.Name, SimpleToken = c.Store.Auth.Tokens.NewPrefix() } };
            var (result, error) = await c.ClusterAsync(ct => c.Node.ProposeAsync(entry.ToByteArray(), ct));
            if (error is not null) return (null, error);
            // Bounded (etcd's loop is bounded by the request's timeout): an auth store changing on every
            // attempt answers with the last token, whose revision then refuses it as old where it matters.
            if (result is string && checkedAt != c.Store.Auth.Revision && attempt < 5) continue;
            return result switch
            {
                string token => (token, null),
                EtcdError e => (null, e),
                _ => throw new InvalidOperationException($"the state machine answered Authenticate with {result?.GetType().Name ?? "null"}"),
            };
        }
    }

    public static Task<(bool Ok, EtcdError? Error)> UserAddAsync(GatewayContext c, Pb.AuthUserAddRequest request)
    {
        if (request.Name.Length == 0) return Task.FromResult<(bool, EtcdError?)>((false, AuthErrors.UserEmpty));
        var add = request.Clone();
        if (add.Options?.NoPassword != true && add.HashedPassword.Length == 0) add.HashedPassword = c.Store.Auth.HashPassword(add.Password);
        add.Password = "";
        return ProposeAsync(c, new Pb.InternalRaftRequest { AuthUserAdd = add });
    }

    public static Task<(bool Ok, EtcdError? Error)> UserChangePasswordAsync(GatewayContext c, Pb.AuthUserChangePasswordRequest request)
    {
        var change = request.Clone();
        if (change.HashedPassword.Length == 0) change.HashedPassword = c.Store.Auth.HashPassword(change.Password);
        change.Password = "";
        return ProposeAsync(c, new Pb.InternalRaftRequest { AuthUserChangePassword = change });
    }

    public static Task<(bool Ok, EtcdError? Error)> ChangeAsync(GatewayContext c, Pb.InternalRaftRequest request) => ProposeAsync(c, request);

    /// <summary>AuthStatus (admin when auth is on, as etcd).</summary>
    public static async Task<(Pb.AuthStatusResponse? Response, EtcdError? Error)> StatusAsync(GatewayContext c)
    {
        if (await ReadCheckAsync(c, admin: true) is { } error) return (null, error);
        return (new Pb.AuthStatusResponse { Enabled = c.Store.Auth.Enabled, AuthRevision = c.Store.Auth.Revision }, null);
    }

    /// <summary>UserGet: admin, or the user itself.</summary>
    public static async Task<(IReadOnlyList<string>? Roles, EtcdError? Error)> UserGetAsync(GatewayContext c, string name)
    {
        if (await ReadCheckAsync(c, admin: false) is { } error) return (null, error);
        if (AuthChecker.CheckAdmin(c.Store.Auth, c.Http) is { } denied && AuthChecker.Caller(c.Store.Auth, c.Http).User != name) return (null, denied);
        return c.Store.Auth.UserRoles(name) is { } roles ? (roles, null) : (null, AuthErrors.UserNotFound);
    }

    /// <summary>RoleGet: admin, or a user that has the role.</summary>
    public static async Task<(IReadOnlyList<KeyPermission>? Permissions, EtcdError? Error)> RoleGetAsync(GatewayContext c, string role)
    {
        if (await ReadCheckAsync(c, admin: false) is { } error) return (null, error);
        if (AuthChecker.CheckAdmin(c.Store.Auth, c.Http) is { } denied && !c.Store.Auth.HasRole(AuthChecker.Caller(c.Store.Auth, c.Http).User, role)) return (null, denied);
        return c.Store.Auth.RolePermissions(role) is { } perms ? (perms, null) : (null, AuthErrors.RoleNotFound);
    }

    public static async Task<(IReadOnlyList<string>? Users, EtcdError? Error)> UserListAsync(GatewayContext c) =>
        await ReadCheckAsync(c, admin: true) is { } error ? (null, error) : (c.Store.Auth.UserNames(), null);

    public static async Task<(IReadOnlyList<string>? Roles, EtcdError? Error)> RoleListAsync(GatewayContext c) =>
        await ReadCheckAsync(c, admin: true) is { } error ? (null, error) : (c.Store.Auth.RoleNames(), null);

    private static async Task<EtcdError?> ReadCheckAsync(GatewayContext c, bool admin)
    {
        if (admin && AuthChecker.CheckAdmin(c.Store.Auth, c.Http) is { } denied) return denied;
        if (!admin && c.Store.Auth.Enabled && AuthChecker.Caller(c.Store.Auth, c.Http).Error is { } invalid) return invalid;
        var (_, error) = await c.BarrierAsync();
        return error;
    }

    // Auth management needs root once auth is on (etcd's needAdminPermission).
    private static async Task<(bool Ok, EtcdError? Error)> ProposeAsync(GatewayContext c, Pb.InternalRaftRequest request, bool admin = true)
    {
        if (admin && AuthChecker.CheckAdmin(c.Store.Auth, c.Http) is { } denied) return (false, denied);
        var (stamped, invalid) = AuthChecker.Stamp(c.Store.Auth, c.Http, request.ToByteArray());
        if (invalid is not null) return (false, invalid);
        var (result, error) = await c.ClusterAsync(ct => c.Node.ProposeAsync(stamped!, ct));
        if (error is not null) return (false, error);
        return result switch
        {
            true => (true, null),
            EtcdError e => (false, e),
            Mvcc.KvError e => (false, EtcdError.From(e)),
            _ => throw new InvalidOperationException($"the state machine answered an auth request with {result?.GetType().Name ?? "null"}"),
        };
    }
}
