using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http;
using Raft.Kv.Http;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Auth;

/// <summary>
/// The one place requests are checked against the caller's permissions (etcd's AuthInfoFromCtx,
/// AuthInfoFromTLS, IsRangePermitted and IsAdminPermitted), for every service: the KV, Cluster,
/// Maintenance, Watch and Lease handlers and the gateway. The same checks run again when a
/// request's entry is applied (<see cref="ApplyCheck"/>), with the caller and auth revision its
/// entry's header carries.
/// </summary>
/// <remarks>
/// <para>Who the caller is: the token in the request's <c>token</c> header (gRPC metadata, as clientv3
/// and etcdctl send it) or <c>Authorization</c> header (the JSON gateway); without either, the common
/// name of the client certificate the connection presented (etcd's --client-cert-auth).</para>
/// <para>The caller comes with an auth revision: the store's at the time of the request (a simple
/// token, a certificate) or the token's own (a JWT). A check against a store that has changed since
/// answers etcd's "revision of auth store is old", so a permission revoked between the check and the
/// apply is never bypassed; clients authenticate again and retry.</para>
/// </remarks>
public static class AuthChecker
{
    /// <summary>
    /// The caller: null when auth is off, or when it is on and the request has neither a token nor a
    /// client certificate; etcd's "invalid auth token" for a token that is unknown, expired or forged.
    /// </summary>
    public static (AuthInfo? Caller, EtcdError? Error) Info(AuthStore auth, HttpContext http)
    {
        if (!auth.Enabled) return (null, null);
        var token = http.Request.Headers["token"].ToString();
        if (token.Length == 0) token = http.Request.Headers.Authorization.ToString();
        if (token.Length > 0)
            return auth.TokenInfo(token) is { } info ? (info, null) : (null, AuthErrors.InvalidAuthToken);
        if (http.Connection.ClientCertificate is { } cert && cert.GetNameInfo(X509NameType.SimpleName, false) is { Length: > 0 } cn)
            return (new AuthInfo(cn, auth.Revision), null);
        return (null, null);
    }

    /// <summary>
    /// The caller's user name: empty when auth is off; when it is on, the token's user or the client
    /// certificate's common name, or etcd's error ("user name is empty" with neither, "invalid auth
    /// token" for a token that is unknown or expired).
    /// </summary>
    public static (string User, EtcdError? Error) Caller(AuthStore auth, HttpContext http)
    {
        var (info, error) = Info(auth, http);
        if (error is not null) return ("", error);
        if (!auth.Enabled) return ("", null);
        return info is null ? ("", AuthErrors.UserEmpty) : (info.User, null);
    }

    /// <summary>
    /// <paramref name="command"/> with the caller in its header (etcd's processInternalRaftRequestOnce),
    /// for every entry a client asks for; etcd's error for a token that is invalid.
    /// </summary>
    public static (byte[]? Command, EtcdError? Error) Stamp(AuthStore auth, HttpContext http, byte[] command)
    {
        var (info, error) = Info(auth, http);
        return error is not null ? (null, error) : (AuthHeader.Append(command, info), null);
    }

    /// <summary>Null when the caller may <paramref name="permission"/> the range, else etcd's error.</summary>
    public static EtcdError? CheckRange(AuthStore auth, HttpContext http, ReadOnlySpan<byte> key, ReadOnlySpan<byte> rangeEnd, AuthPermission permission)
    {
        var (info, error) = Info(auth, http);
        return error ?? auth.CheckRange(info, key, rangeEnd, permission);
    }

    /// <summary>Null when the caller has the root role (or auth is off), else etcd's error (member and maintenance operations, compaction, auth management).</summary>
    public static EtcdError? CheckAdmin(AuthStore auth, HttpContext http)
    {
        var (info, error) = Info(auth, http);
        return error ?? auth.CheckAdmin(info);
    }

    /// <summary>Null when the caller may run <paramref name="request"/> (a KV request; a txn: every compare read, every operation of both branches), else etcd's error.</summary>
    public static EtcdError? CheckKv(AuthStore auth, HttpContext http, IKvRequest request)
    {
        var (info, error) = Info(auth, http);
        return error ?? CheckKv(auth, info, request, _ => []);
    }

    /// <summary>
    /// The check of a KV request for <paramref name="caller"/> (etcd's authApplierV3): Range read,
    /// Put write (and read with prev_kv; and write on the keys already attached to its lease, since
    /// the user could not revoke that lease otherwise), DeleteRange write (and read with prev_kv), Txn
    /// read on every compare and each operation of both branches.
    /// </summary>
    /// <param name="auth">The auth store.</param>
    /// <param name="caller">The caller, null when none.</param>
    /// <param name="request">The request.</param>
    /// <param name="leaseKeys">The keys attached to a lease (none for a lease that does not exist).</param>
    public static EtcdError? CheckKv(AuthStore auth, AuthInfo? caller, IKvRequest request, Func<long, IEnumerable<byte[]>> leaseKeys)
    {
        if (!auth.Enabled) return null;
        switch (request)
        {
            case RangeRequest r:
                return auth.CheckRange(caller, r.Key.Span, r.RangeEnd.Span, AuthPermission.Read);
            case PutRequest p:
                if (auth.CheckRange(caller, p.Key.Span, default, AuthPermission.Write) is { } put) return put;
                if (p.Lease != 0 && CheckLeaseKeys(auth, caller, leaseKeys(p.Lease)) is { } lease) return lease;
                return p.PrevKv ? auth.CheckRange(caller, p.Key.Span, default, AuthPermission.Read) : null;
            case DeleteRangeRequest d:
                return auth.CheckRange(caller, d.Key.Span, d.RangeEnd.Span, AuthPermission.Write)
                    ?? (d.PrevKv ? auth.CheckRange(caller, d.Key.Span, d.RangeEnd.Span, AuthPermission.Read) : null);
            case TxnRequest t:
                foreach (var c in t.Compares)
                {
                    if (auth.CheckRange(caller, c.Key.Span, c.RangeEnd.Span, AuthPermission.Read) is { } compare) return compare;
                }
                foreach (var op in t.Success.Concat(t.Failure))
                {
                    if (CheckKv(auth, caller, op, leaseKeys) is { } denied) return denied;
                }
                return null;
            default:
                return auth.CheckAdmin(caller);
        }
    }

    /// <summary>etcd's checkLeasePuts: write on every key attached to the lease (a revoke deletes them).</summary>
    public static EtcdError? CheckLeaseKeys(AuthStore auth, AuthInfo? caller, IEnumerable<byte[]> keys)
    {
        if (!auth.Enabled) return null;
        foreach (var key in keys)
        {
            if (auth.CheckRange(caller, key, default, AuthPermission.Write) is { } denied) return denied;
        }
        return null;
    }

    /// <summary>
    /// The check of an entry when it is applied (etcd's authApplierV3.Apply): <paramref name="caller"/>
    /// is the entry header's user and auth revision, null for an entry this cluster proposed itself
    /// (lease expiry, the NOSPACE alarm, auto compaction), which runs as root (etcd's WithRoot). Auth
    /// management and compaction need root; KV requests and lease revokes their permissions.
    /// </summary>
    internal static EtcdError? ApplyCheck(AuthStore auth, AuthInfo? caller, object request, Func<long, IEnumerable<byte[]>> leaseKeys)
    {
        if (caller is null || !auth.Enabled) return null;
        return request switch
        {
            IKvRequest kv => CheckKv(auth, caller, kv, leaseKeys),
            Lease.LeaseRevokeRequest revoke => CheckLeaseKeys(auth, caller, leaseKeys(revoke.Id)),
            CompactionRequest => auth.CheckAdmin(caller),
            AuthCommand { Request.Authenticate: not null } => null,
            AuthCommand => auth.CheckAdmin(caller),
            _ => null,
        };
    }
}
