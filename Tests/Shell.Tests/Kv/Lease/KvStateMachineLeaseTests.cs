using System.Buffers.Binary;
using System.Text;
using Raft.Kv;
using Raft.Kv.Codec;
using Raft.Kv.Lease;
using Raft.Kv.Mvcc;

namespace Raft.Shell.Tests.Kv.Lease;

/// <summary>Leases applied to the state machine: attachment by put, revoke deleting the keys at one revision, snapshots.</summary>
public class KvStateMachineLeaseTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static ulong _index;

    private static object? Apply(KvStateMachine sm, byte[] command) => sm.Apply(Interlocked.Increment(ref _index), command);

    private static object? Put(KvStateMachine sm, string key, long lease = 0, bool ignoreLease = false) =>
        Apply(sm, KvCommandCodec.Encode(new PutRequest(B(key), B("v"), false, lease, ignoreLease)));

    private static List<string> Keys(KvStateMachine sm) => sm.All().Pairs.Select(kv => Encoding.UTF8.GetString(kv.Key.Span)).ToList();

    [Fact]
    public void RevokeDeletesTheLeaseKeysAtOneRevision()
    {
        using var sm = new KvStateMachine();
        Assert.IsType<LeaseGrantResponse>(Apply(sm, KvCommandCodec.Encode(new LeaseGrantRequest(5, 60))));
        Assert.IsType<PutResponse>(Put(sm, "a", 5));
        Assert.IsType<PutResponse>(Put(sm, "b", 5));
        Put(sm, "c");
        Put(sm, "b"); // put again without the lease: detached
        Put(sm, "d", 5);
        Assert.Equal([B("a"), B("d")], sm.Lessor.Keys(5)!);
        var before = sm.Store.CurrentRevision;
        var changes = new List<MvccChanges>();
        sm.Store.Changed += changes.Add;

        var revoked = Assert.IsType<LeaseRevokeResponse>(Apply(sm, KvCommandCodec.Encode(new LeaseRevokeRequest(5))));

        Assert.Equal(before + 1, revoked.Revision);
        var change = Assert.Single(changes);
        Assert.Equal(["a", "d"], change.Events.Select(e => Encoding.UTF8.GetString(e.Kv.Key.Span)));
        Assert.All(change.Events, e => Assert.Equal(MvccEventType.Delete, e.Type));
        Assert.Equal(["b", "c"], Keys(sm));
        Assert.False(sm.Lessor.Exists(5));
        Assert.Equal(KvErrorKind.LeaseNotFound, Assert.IsType<KvError>(Apply(sm, KvCommandCodec.Encode(new LeaseRevokeRequest(5)))).Kind);
    }

    [Fact]
    public void PutsNamingAMissingLeaseAreRefusedAndIgnoreLeaseKeepsTheKeysLease()
    {
        using var sm = new KvStateMachine();
        var revision = sm.Store.CurrentRevision;
        Assert.Equal(KvErrorKind.LeaseNotFound, Assert.IsType<KvError>(Put(sm, "a", 9)).Kind);
        Assert.Equal(KvErrorKind.KeyNotFound, Assert.IsType<KvError>(Put(sm, "a", 0, ignoreLease: true)).Kind);
        var txn = new TxnRequest([], [new PutRequest(B("t"), B("v"), false, 9)], []);
        Assert.Equal(KvErrorKind.LeaseNotFound, Assert.IsType<KvError>(Apply(sm, KvCommandCodec.Encode(txn))).Kind);
        Assert.Equal(revision, sm.Store.CurrentRevision);

        Apply(sm, KvCommandCodec.Encode(new LeaseGrantRequest(9, 60)));
        Put(sm, "a", 9);
        Put(sm, "a", 0, ignoreLease: true);
        Assert.Equal(9, sm.All().Pairs.Single().Lease);
        Assert.IsType<TxnResponse>(Apply(sm, KvCommandCodec.Encode(txn)));
        Assert.Equal([B("a"), B("t")], sm.Lessor.Keys(9)!);
        Assert.Equal(KvErrorKind.LeaseExists, Assert.IsType<KvError>(Apply(sm, KvCommandCodec.Encode(new LeaseGrantRequest(9, 5)))).Kind);
    }

    [Fact]
    public void ASnapshotCarriesLeasesAndTheirKeys()
    {
        using var source = new KvStateMachine();
        Apply(source, KvCommandCodec.Encode(new LeaseGrantRequest(1, 30)));
        Apply(source, KvCommandCodec.Encode(new LeaseGrantRequest(2, 40)));
        Put(source, "x", 1);
        Put(source, "y", 2);
        Put(source, "z");

        using var target = new KvStateMachine();
        // Behind the source's log (index 1): a store that applied as far as the snapshot keeps itself.
        target.Apply(1, KvCommandCodec.Encode(new LeaseGrantRequest(3, 50)));
        target.Restore(source.TakeSnapshot());

        Assert.Equal([(1L, 30L), (2L, 40L)], target.Lessor.Snapshot());
        Assert.Equal(1, target.All().Pairs.Single(kv => kv.Key.Span.SequenceEqual(B("x"))).Lease);
        Assert.Equal(source.TakeSnapshot(), target.TakeSnapshot());
        Apply(target, KvCommandCodec.Encode(new LeaseRevokeRequest(1)));
        Assert.Equal(["y", "z"], Keys(target));
        target.Store.Commit();
        Assert.Equal([(2L, 40L)], target.Store.ReadAux(Raft.Kv.Backend.KvBucket.Lease)
            .Select(p => (BinaryPrimitives.ReadInt64BigEndian(p.Key), BinaryPrimitives.ReadInt64BigEndian(p.Value))));
    }

    [Fact]
    public void AReopenedStoreHasItsLeasesAndTheirKeys()
    {
        using var dir = new TempDir();
        using (var sm = new KvStateMachine(backend: Raft.Kv.Backend.KvBackends.Open(dir.Path)))
        {
            Apply(sm, KvCommandCodec.Encode(new LeaseGrantRequest(4, 30)));
            Apply(sm, KvCommandCodec.Encode(new LeaseGrantRequest(6, 30)));
            Put(sm, "k", 4);
            Put(sm, "m", 6);
            Apply(sm, KvCommandCodec.Encode(new LeaseRevokeRequest(6)));
        }
        using var reopened = new KvStateMachine(backend: Raft.Kv.Backend.KvBackends.Open(dir.Path));
        Assert.Equal([(4L, 30L)], reopened.Lessor.Snapshot());
        Assert.Equal([B("k")], reopened.Lessor.Keys(4)!);
        Apply(reopened, KvCommandCodec.Encode(new LeaseRevokeRequest(4)));
        Assert.Empty(Keys(reopened));
    }

    [Fact]
    public void AReopenedStoreAttachesEachKeyToTheLeaseOfItsLastChange()
    {
        using var dir = new TempDir();
        using (var sm = new KvStateMachine(backend: Raft.Kv.Backend.KvBackends.Open(dir.Path)))
        {
            Apply(sm, KvCommandCodec.Encode(new LeaseGrantRequest(4, 30)));
            Apply(sm, KvCommandCodec.Encode(new LeaseGrantRequest(6, 30)));
            Put(sm, "a", 4);
            Put(sm, "a", 6); // moved to another lease
            Put(sm, "b", 4);
            Put(sm, "b"); // put again without a lease
            Put(sm, "c", 4);
            Apply(sm, KvCommandCodec.Encode(new DeleteRangeRequest(B("c")))); // deleted
            Put(sm, "d", 6);
            Apply(sm, KvCommandCodec.Encode(new DeleteRangeRequest(B("d"))));
            Put(sm, "d", 4); // created again under another lease
            Put(sm, "e", 6);
        }
        using var reopened = new KvStateMachine(backend: Raft.Kv.Backend.KvBackends.Open(dir.Path));
        Assert.Equal([B("d")], reopened.Lessor.Keys(4)!);
        Assert.Equal([B("a"), B("e")], reopened.Lessor.Keys(6)!.OrderBy(k => Encoding.UTF8.GetString(k)));
        Apply(reopened, KvCommandCodec.Encode(new LeaseRevokeRequest(6)));
        Assert.Equal(["b", "d"], Keys(reopened));
    }
}
