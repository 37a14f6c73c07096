namespace Raft.Kv.Lease;

/// <summary>etcd's LeaseGrantRequest as applied: the id is chosen before proposing, so every member grants the same one.</summary>
/// <param name="Id">The lease id (not 0).</param>
/// <param name="Ttl">The TTL asked for, in seconds (raised to the lessor's minimum).</param>
public sealed record LeaseGrantRequest(long Id, long Ttl);

/// <summary>etcd's LeaseRevokeRequest: revoke a lease and delete its keys.</summary>
/// <param name="Id">The lease id.</param>
public sealed record LeaseRevokeRequest(long Id);

/// <summary>What a lease grant applied: the id and the TTL granted.</summary>
/// <param name="Id">The lease id.</param>
/// <param name="Ttl">The TTL granted, in seconds.</param>
/// <param name="Revision">The store revision when it was applied.</param>
public sealed record LeaseGrantResponse(long Id, long Ttl, long Revision);

/// <summary>What a lease revoke applied: the revision after its keys were deleted.</summary>
/// <param name="Revision">The store revision after the revoke.</param>
public sealed record LeaseRevokeResponse(long Revision);
