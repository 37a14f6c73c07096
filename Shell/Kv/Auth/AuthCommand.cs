using Google.Protobuf;
using Raft.Kv.Mvcc;
using Pb = Raft.Kv.Proto;

namespace Raft.Kv.Auth;

/// <summary>A Raft entry holding one of etcd's auth requests (raft_internal.proto fields 1000 to 1204).</summary>
internal sealed record AuthCommand(Pb.InternalRaftRequest Request)
{
    /// <summary>The entry's bytes.</summary>
    public byte[] Encode() => Request.ToByteArray();

    /// <summary>
    /// The auth command in a decoded entry, null when it holds no auth request, or a
    /// <see cref="KvError"/> when it holds an auth request beside another request.
    /// </summary>
    internal static object? From(Pb.InternalRaftRequest request, int otherRequests)
    {
        if (!AuthStore.IsAuthRequest(request)) return null;
        var auth = new[]
        {
            request.AuthEnable is null, request.AuthDisable is null, request.Authenticate is null, request.AuthUserAdd is null,
            request.AuthUserDelete is null, request.AuthUserChangePassword is null, request.AuthUserGrantRole is null,
            request.AuthUserRevokeRole is null, request.AuthRoleAdd is null, request.AuthRoleDelete is null,
            request.AuthRoleGrantPermission is null, request.AuthRoleRevokePermission is null,
        }.Count(absent => !absent);
        return auth + otherRequests > 1 ? KvError.Malformed("more than one request in one command") : new AuthCommand(request);
    }
}
