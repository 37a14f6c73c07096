using System.Buffers.Binary;
using Raft.Kv.Backend;
using Raft.Kv.Lease;
using Raft.Kv.Mvcc;

namespace Raft.Kv;

// Leases in the state machine (etcd's applierV3backend.LeaseGrant and LeaseRevoke): the lessor
// follows the store's changes for attachments; grants and revokes are kept in the Lease bucket
// (id -> TTL, both big-endian) and in snapshots, so a restarted member has the same leases.
public sealed partial class KvStateMachine
{
    private Lessor? _lessor;

    /// <summary>The leases: the same on every member, with expiry kept only while this member leads.</summary>
    public Lessor Lessor => _lessor ??= new Lessor();

    private void LoadLeases()
    {
        // Also after a checkpoint replaced the store: the leases are the new store's alone.
        Lessor.Clear();
        foreach (var (key, value) in Store.ReadAux(KvBucket.Lease))
        {
            if (key.Length == 8 && value.Length == 8)
                Lessor.Restore(BinaryPrimitives.ReadInt64BigEndian(key), BinaryPrimitives.ReadInt64BigEndian(value));
        }
        // Runs right after the store opened, before anything was applied to it.
        foreach (var (key, lease) in Store.TakeLoadedLeases()) Lessor.Attach(key, lease);
        Store.Changed += Lessor.Observe;
    }

    private void AttachAll(IEnumerable<KeyValue> pairs)
    {
        foreach (var kv in pairs) Lessor.Attach(kv.Key.Span, kv.Lease);
    }

    // After a snapshot: the Lease bucket and the lessor hold exactly the snapshot's leases.
    private void RestoreLeases(IReadOnlyList<(long Id, long Ttl)> leases, IEnumerable<KeyValue> pairs)
    {
        foreach (var (key, _) in Store.ReadAux(KvBucket.Lease)) Store.DeleteAux(KvBucket.Lease, key);
        Lessor.Clear();
        foreach (var (id, ttl) in leases)
        {
            Store.PutAux(KvBucket.Lease, LeaseKey(id), LeaseKey(ttl));
            Lessor.Restore(id, ttl);
        }
        Store.Commit();
        AttachAll(pairs);
    }

    private object ApplyLeaseGrant(ulong index, LeaseGrantRequest grant)
    {
        var (ttl, error) = Lessor.Grant(grant.Id, grant.Ttl);
        if (error is not null) return Refuse(index, error);
        // Before the applied index: a commit between them must not leave the index without the lease.
        Store.PutAux(KvBucket.Lease, LeaseKey(grant.Id), LeaseKey(ttl));
        Store.SetConsistentIndex(index);
        return new LeaseGrantResponse(grant.Id, ttl, Store.CurrentRevision);
    }

    // etcd's lessor.Revoke: the lease's keys deleted in key order in one write, so at one revision.
    private object ApplyLeaseRevoke(ulong index, LeaseRevokeRequest revoke)
    {
        if (Lessor.Keys(revoke.Id) is not { } keys) return Refuse(index, LeaseErrors.NotFound);
        // The bucket change goes into the batch first, so it commits with the keys' deletes and the applied index.
        Store.DeleteAux(KvBucket.Lease, LeaseKey(revoke.Id));
        using (var txn = Store.Write(index))
        {
            foreach (var key in keys) txn.DeleteRange(key);
        }
        Lessor.Remove(revoke.Id);
        _metrics?.Delete();
        return new LeaseRevokeResponse(Store.CurrentRevision);
    }

    private static byte[] LeaseKey(long value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, value);
        return bytes;
    }
}
