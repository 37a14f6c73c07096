using Raft.Kv.Mvcc;

namespace Raft.Kv.Lease;

/// <summary>etcd's lease errors (api/v3rpc/rpctypes) as store errors.</summary>
public static class LeaseErrors
{
    /// <summary>"etcdserver: requested lease not found".</summary>
    public static KvError NotFound { get; } = new(KvErrorKind.LeaseNotFound, "etcdserver: requested lease not found");

    /// <summary>"etcdserver: lease already exists".</summary>
    public static KvError Exists { get; } = new(KvErrorKind.LeaseExists, "etcdserver: lease already exists");

    /// <summary>"etcdserver: too large lease TTL".</summary>
    public static KvError TtlTooLarge { get; } = new(KvErrorKind.LeaseTtlTooLarge, "etcdserver: too large lease TTL");

    /// <summary>etcd's lease.ErrNotPrimary: only the leader renews leases.</summary>
    public static KvError NotPrimary { get; } = new(KvErrorKind.LeaseNotPrimary, "not a primary lessor");

    /// <summary>"etcdserver: key not found" (a put with ignore_lease on a missing key).</summary>
    public static KvError KeyNotFound { get; } = new(KvErrorKind.KeyNotFound, "etcdserver: key not found");
}
