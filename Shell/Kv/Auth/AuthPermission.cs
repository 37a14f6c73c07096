namespace Raft.Kv.Auth;

/// <summary>What a role's permission on a key range allows (etcd's authpb.Permission.Type).</summary>
public enum AuthPermission
{
    /// <summary>Range, and the compares and previous pairs of writes.</summary>
    Read = 0,

    /// <summary>Put and delete.</summary>
    Write = 1,

    /// <summary>Both.</summary>
    ReadWrite = 2,
}

/// <summary>
/// One permission of a role: <see cref="Key"/> alone (<see cref="RangeEnd"/> empty), the range
/// [Key, RangeEnd), or every key from Key on (RangeEnd is the single byte 0), as etcd's.
/// </summary>
public sealed record KeyPermission(AuthPermission Type, byte[] Key, byte[] RangeEnd);
