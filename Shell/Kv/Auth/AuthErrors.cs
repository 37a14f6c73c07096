using Raft.Kv.Http;

namespace Raft.Kv.Auth;

/// <summary>etcd's auth errors (api/v3rpc/rpctypes), with etcd's codes and texts.</summary>
public static class AuthErrors
{
    /// <summary>"etcdserver: root user does not exist".</summary>
    public static EtcdError RootUserNotExist { get; } = new(GrpcCode.FailedPrecondition, "etcdserver: root user does not exist");

    /// <summary>"etcdserver: root user does not have root role".</summary>
    public static EtcdError RootRoleNotExist { get; } = new(GrpcCode.FailedPrecondition, "etcdserver: root user does not have root role");

    /// <summary>"etcdserver: user name already exists".</summary>
    public static EtcdError UserAlreadyExist { get; } = new(GrpcCode.FailedPrecondition, "etcdserver: user name already exists");

    /// <summary>"etcdserver: user name is empty".</summary>
    public static EtcdError UserEmpty { get; } = new(GrpcCode.InvalidArgument, "etcdserver: user name is empty");

    /// <summary>"etcdserver: user name not found".</summary>
    public static EtcdError UserNotFound { get; } = new(GrpcCode.FailedPrecondition, "etcdserver: user name not found");

    /// <summary>"etcdserver: role name already exists".</summary>
    public static EtcdError RoleAlreadyExist { get; } = new(GrpcCode.FailedPrecondition, "etcdserver: role name already exists");

    /// <summary>"etcdserver: role name not found".</summary>
    public static EtcdError RoleNotFound { get; } = new(GrpcCode.FailedPrecondition, "etcdserver: role name not found");

    /// <summary>"etcdserver: role name is empty".</summary>
    public static EtcdError RoleEmpty { get; } = new(GrpcCode.InvalidArgument, "etcdserver: role name is empty");

    /// <summary>"etcdserver: authentication failed, invalid user ID or password".</summary>
    public static EtcdError AuthFailed { get; } = new(GrpcCode.InvalidArgument, "etcdserver: authentication failed, invalid user ID or password");

    /// <summary>"etcdserver: permission not given".</summary>
    public static EtcdError PermissionNotGiven { get; } = new(GrpcCode.InvalidArgument, "etcdserver: permission not given");

    /// <summary>"etcdserver: permission denied".</summary>
    public static EtcdError PermissionDenied { get; } = new(GrpcCode.PermissionDenied, "etcdserver: permission denied");

    /// <summary>"etcdserver: role is not granted to the user".</summary>
    public static EtcdError RoleNotGranted { get; } = new(GrpcCode.FailedPrecondition, "etcdserver: role is not granted to the user");

    /// <summary>"etcdserver: permission is not granted to the role".</summary>
    public static EtcdError PermissionNotGranted { get; } = new(GrpcCode.FailedPrecondition, "etcdserver: permission is not granted to the role");

    /// <summary>"etcdserver: authentication is not enabled".</summary>
    public static EtcdError AuthNotEnabled { get; } = new(GrpcCode.FailedPrecondition, "etcdserver: authentication is not enabled");

    /// <summary>"etcdserver: invalid auth token".</summary>
    public static EtcdError InvalidAuthToken { get; } = new(GrpcCode.Unauthenticated, "etcdserver: invalid auth token");

    /// <summary>"etcdserver: invalid auth management" (deleting root, or its root role, while auth is on).</summary>
    public static EtcdError InvalidAuthMgmt { get; } = new(GrpcCode.InvalidArgument, "etcdserver: invalid auth management");

    /// <summary>"etcdserver: revision of auth store is old" (the caller's permissions were looked at before the last auth change; clients authenticate again and retry).</summary>
    public static EtcdError AuthOldRevision { get; } = new(GrpcCode.InvalidArgument, "etcdserver: revision of auth store is old");

    /// <summary>etcd's ErrVerifyOnly: a member with a JWT public key only cannot issue tokens.</summary>
    public static EtcdError VerifyOnly { get; } = new(GrpcCode.Unknown, "auth: token signing attempted with verify-only key");
}
