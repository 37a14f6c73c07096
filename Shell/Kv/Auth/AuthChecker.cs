using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http;
using Raft.Kv.Http;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Auth;

/// <summary>
/// The one place requests are checked against the caller's permissions (etcd's authApplierV3 and
/// IsRangePermitted / IsAdminPermitted), for every service: the KV, Cluster and Maintenance handlers,
/// the gateway, and the Watch and Lease services.
/// </summary>
/// <remarks>
/// <para>Who the caller is: the token in the request's <c>token</c> header (gRPC metadata, as clientv3
/// and etcdctl send it) or <c>Authorization</c> header (the JSON gateway); without either, the common
/// name of the client certificate the connection presented (etcd's --client-cert-auth).</para>
/// <para>For another service: <c>var (user, error) = AuthChecker.Caller(store, httpContext)</c> (an
/// error when auth is on and no valid token or certificate came), then
/// <c>store.Auth.IsRangePermitted(user, key, rangeEnd, AuthPermission.Read)</c> (a watch needs Read on
/// its range) or <see cref="CheckRange"/>, which answers etcd's error. Lease grant, revoke and
/// keep-alive need no key permission in etcd; a lease's revoke needs Write on the lease's keys.</para>
/// </remarks>
public static class AuthChecker
{
    /// <summary>
    /// The caller's user name: empty when auth is off; when it is on, the token's user or the client
    /// certificate's common name, or etcd's error ("user name is empty" with neither, "invalid auth
    /// token" for a token that is unknown or expired).
    /// </summary>
    public static (string User, EtcdError? Error) Caller(AuthStore auth, HttpContext http)
    {
        if (!auth.Enabled) return ("", null);
        var token = http.Request.Headers["token"].ToString();
        if (token.Length == 0) token = http.Request.Headers.Authorization.ToString();
        if (token.Length > 0)
            return auth.Tokens.Info(token) is { } info ? (info.User, null) : ("", AuthErrors.InvalidAuthToken);
        if (http.Connection.ClientCertificate is { } cert && cert.GetNameInfo(X509NameType.SimpleName, false) is { Length: > 0 } cn)
            return (cn, null);
        return ("", AuthErrors.UserEmpty);
    }

    /// <summary>Null when the caller may <paramref name="permission"/> the range, else etcd's error.</summary>
    public static EtcdError? CheckRange(AuthStore auth, HttpContext http, ReadOnlySpan<byte> key, ReadOnlySpan<byte> rangeEnd, AuthPermission permission)
    {
        if (!auth.Enabled) return null;
        var (user, error) = Caller(auth, http);
        if (error is not null) return error;
        return auth.IsRangePermitted(user, key, rangeEnd, permission) ? null : AuthErrors.PermissionDenied;
    }

    /// <summary>Null when the caller has the root role (or auth is off), else etcd's error (member and maintenance operations, compaction, auth management).</summary>
    public static EtcdError? CheckAdmin(AuthStore auth, HttpContext http)
    {
        if (!auth.Enabled) return null;
        var (user, error) = Caller(auth, http);
        if (error is not null) return error;
        return auth.IsAdmin(user) ? null : AuthErrors.PermissionDenied;
    }

    /// <summary>Null when the caller may run <paramref name="request"/> (a KV request; a txn: every compare read, every operation of both branches), else etcd's error.</summary>
    public static EtcdError? CheckKv(AuthStore auth, HttpContext http, IKvRequest request)
    {
        if (!auth.Enabled) return null;
        var (user, error) = Caller(auth, http);
        if (error is not null) return error;
        return IsPermitted(auth, user, request) ? null : AuthErrors.PermissionDenied;
    }

    // etcd's checkRangePermission / checkPutPermission / checkDeletePermission / checkTxnReqsPermission:
    // a previous pair asked for also needs read on it.
    private static bool IsPermitted(AuthStore auth, string user, IKvRequest request) => request switch
    {
        RangeRequest r => auth.IsRangePermitted(user, r.Key.Span, r.RangeEnd.Span, AuthPermission.Read),
        PutRequest p => auth.IsRangePermitted(user, p.Key.Span, default, p.PrevKv ? AuthPermission.ReadWrite : AuthPermission.Write),
        DeleteRangeRequest d => auth.IsRangePermitted(user, d.Key.Span, d.RangeEnd.Span, d.PrevKv ? AuthPermission.ReadWrite : AuthPermission.Write),
        TxnRequest t => t.Compares.All(c => auth.IsRangePermitted(user, c.Key.Span, c.RangeEnd.Span, AuthPermission.Read))
            && t.Success.Concat(t.Failure).All(op => IsPermitted(auth, user, op)),
        _ => auth.IsAdmin(user),
    };
}
