using System.Text;
using Raft.Interop;
using Raft.Kv;
using Raft.Kv.Codec;
using Raft.Kv.Mvcc;

namespace Raft.Shell.Tests.Kv;

public class KvStateMachineTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static string S(ReadOnlyMemory<byte> m) => Encoding.UTF8.GetString(m.Span);

    private ulong _index;

    private object? Apply(IStateMachine sm, byte[] command) => sm.Apply(++_index, command);

    private PutResponse Put(KvStateMachine sm, string key, string value, bool prevKv = false) =>
        Assert.IsType<PutResponse>(Apply(sm, KvCommandCodec.Encode(new PutRequest(B(key), B(value), prevKv))));

    private DeleteRangeResponse Delete(KvStateMachine sm, string key, string? end = null, bool prevKv = false) =>
        Assert.IsType<DeleteRangeResponse>(Apply(sm, KvCommandCodec.Encode(new DeleteRangeRequest(B(key), end is null ? default : B(end), prevKv))));

    private static RangeResponse Range(KvStateMachine sm, RangeRequest request) => Assert.IsType<RangeResponse>(sm.Range(request));

    private static RangeResponse Range(KvStateMachine sm, string key, string? end = null, long limit = 0) =>
        Range(sm, new RangeRequest(B(key), end is null ? default : B(end), limit));

    private static string[] Keys(RangeResponse r) => r.Kvs.Select(kv => S(kv.Key)).ToArray();

    [Fact]
    public void StoreStartsAtRevisionOneAndAPutCreatesTheKeyAtTheNextRevision()
    {
        var sm = new KvStateMachine();
        Assert.Equal(1, sm.Store.CurrentRevision);
        Assert.Equal(1, Range(sm, "foo").Revision);

        var put = Put(sm, "foo", "bar");
        Assert.Equal(2, put.Revision);
        Assert.Null(put.PrevKv);

        var kv = Assert.Single(Range(sm, "foo").Kvs);
        Assert.Equal(new KeyValue(B("foo"), 2, 2, 1, B("bar")), kv);
    }

    [Fact]
    public void PutsOfAnExistingKeyKeepItsCreateRevisionAndCountVersions()
    {
        var sm = new KvStateMachine();
        Put(sm, "foo", "bar");
        Put(sm, "other", "x");
        var second = Put(sm, "foo", "baz", prevKv: true);

        Assert.Equal(4, second.Revision);
        Assert.Equal(new KeyValue(B("foo"), 2, 2, 1, B("bar")), second.PrevKv);
        Assert.Equal(new KeyValue(B("foo"), 2, 4, 2, B("baz")), Range(sm, "foo").Kvs.Single());
    }

    [Fact]
    public void PrevKvIsAbsentWhenNotAskedForOrWhenTheKeyIsNew()
    {
        var sm = new KvStateMachine();
        Assert.Null(Put(sm, "k", "1", prevKv: true).PrevKv);
        Assert.Null(Put(sm, "k", "2", prevKv: false).PrevKv);
    }

    [Fact]
    public void DeleteAdvancesTheRevisionOnlyWhenItDeletesAndResetsTheVersion()
    {
        var sm = new KvStateMachine();
        Put(sm, "a", "1");
        Put(sm, "a", "2");

        var miss = Delete(sm, "zz");
        Assert.Equal(3, miss.Revision);
        Assert.Equal(0, miss.Deleted);
        Assert.Equal(3, sm.Store.CurrentRevision);

        var hit = Delete(sm, "a");
        Assert.Equal(4, hit.Revision);
        Assert.Equal(1, hit.Deleted);
        Assert.Empty(hit.PrevKvs);
        Assert.Equal(0, Range(sm, "a").Count);

        var again = Put(sm, "a", "3");
        Assert.Equal(5, again.Revision);
        Assert.Equal(new KeyValue(B("a"), 5, 5, 1, B("3")), Range(sm, "a").Kvs.Single());
    }

    [Fact]
    public void DeleteRangeReturnsTheDeletedPairsInKeyOrderWhenAsked()
    {
        var sm = new KvStateMachine();
        foreach (var k in new[] { "c", "a", "b", "d" }) Put(sm, k, "v" + k);

        var del = Delete(sm, "a", "c", prevKv: true);
        Assert.Equal(2, del.Deleted);
        Assert.Equal(6, del.Revision);
        Assert.Equal(new[] { "a", "b" }, del.PrevKvs.Select(kv => S(kv.Key)));
        Assert.Equal(new KeyValue(B("a"), 3, 3, 1, B("va")), del.PrevKvs[0]);
        Assert.Equal(new[] { "c", "d" }, Keys(Range(sm, "a", "\0")));
    }

    [Fact]
    public void RangeEndFollowsEtcdsConventions()
    {
        var sm = new KvStateMachine();
        foreach (var k in new[] { "a", "a\0", "ab", "b", "c" }) Put(sm, k, k);

        Assert.Equal(new[] { "a" }, Keys(Range(sm, "a")));                         // empty end: the key itself
        Assert.Equal(new[] { "a", "a\0", "ab" }, Keys(Range(sm, "a", "b")));        // [key, end)
        Assert.Equal(new[] { "ab", "b", "c" }, Keys(Range(sm, "ab", "\0")));        // "\0": every key >= key
        Assert.Equal(new[] { "a", "a\0", "ab", "b", "c" }, Keys(Range(sm, "\0", "\0"))); // everything
        Assert.Empty(Range(sm, "c", "a").Kvs);                                     // end before key: nothing
        Assert.Equal(0, Range(sm, "c", "a").Count);
        Assert.Empty(Range(sm, "b", "b").Kvs);
    }

    [Fact]
    public void KeysSortByUnsignedBytesNotByText()
    {
        var sm = new KvStateMachine();
        var high = new byte[] { 0xFF };
        var low = new byte[] { 0x01 };
        Apply(sm, KvCommandCodec.Encode(new PutRequest(high, B("hi"))));
        Apply(sm, KvCommandCodec.Encode(new PutRequest(B("Z"), B("z"))));
        Apply(sm, KvCommandCodec.Encode(new PutRequest(B("a"), B("a"))));
        Apply(sm, KvCommandCodec.Encode(new PutRequest(low, B("lo"))));

        var all = Range(sm, new RangeRequest(new byte[] { 0 }, new byte[] { 0 }));
        Assert.Equal(new[] { "01", "5A", "61", "FF" }, all.Kvs.Select(kv => Convert.ToHexString(kv.Key.Span)));
    }

    [Fact]
    public void LimitReturnsTheFirstPairsAndSaysThereIsMoreWhileCountCoversTheRange()
    {
        var sm = new KvStateMachine();
        foreach (var k in new[] { "a", "b", "c", "d" }) Put(sm, k, k);

        var two = Range(sm, "a", "z", limit: 2);
        Assert.Equal(new[] { "a", "b" }, Keys(two));
        Assert.True(two.More);
        Assert.Equal(4, two.Count);

        var exact = Range(sm, "a", "z", limit: 4);
        Assert.Equal(4, exact.Kvs.Count);
        Assert.False(exact.More);

        var none = Range(sm, "a", "z", limit: 0);
        Assert.Equal(4, none.Kvs.Count);
        Assert.False(none.More);
    }

    [Fact]
    public void CountOnlyAndKeysOnly()
    {
        var sm = new KvStateMachine();
        foreach (var k in new[] { "a", "b", "c" }) Put(sm, k, "value-" + k);

        var counted = Range(sm, new RangeRequest(B("a"), B("c"), CountOnly: true));
        Assert.Empty(counted.Kvs);
        Assert.Equal(2, counted.Count);
        Assert.False(counted.More);

        var keys = Range(sm, new RangeRequest(B("a"), B("\0"), KeysOnly: true, Limit: 2));
        Assert.Equal(new[] { "a", "b" }, Keys(keys));
        Assert.All(keys.Kvs, kv => Assert.True(kv.Value.IsEmpty));
        Assert.Equal(new KeyValue(B("a"), 2, 2, 1, default), keys.Kvs[0]);
        Assert.True(keys.More);
        // The store itself still holds the values.
        Assert.Equal("value-a", S(Range(sm, "a").Kvs.Single().Value));
    }

    [Fact]
    public void RangesReadAnyRevisionDownToTheCompactionAndNoneInTheFuture()
    {
        var sm = new KvStateMachine();
        Put(sm, "a", "1");
        Put(sm, "a", "2");
        Assert.Equal(KvError.FutureRevision, sm.Range(new RangeRequest(B("a"), Revision: 4)));
        var old = Range(sm, new RangeRequest(B("a"), Revision: 2));
        // The header names the current revision; the pair is as it was at the revision read.
        Assert.Equal(3, old.Revision);
        Assert.Equal(new KeyValue(B("a"), 2, 2, 1, B("1")), old.Kvs.Single());
        Assert.Empty(Range(sm, new RangeRequest(B("a"), Revision: 1)).Kvs);
        Assert.Equal(KvError.EmptyKey, sm.Range(new RangeRequest(default)));

        Assert.Equal(new CompactionResponse(3), Apply(sm, KvCommandCodec.Encode(new CompactionRequest(3))));
        Assert.Equal(KvError.Compacted, sm.Range(new RangeRequest(B("a"), Revision: 2)));
        Assert.Equal("2", S(Range(sm, new RangeRequest(B("a"), Revision: 3)).Kvs.Single().Value));
        Assert.Equal(KvError.Compacted, Apply(sm, KvCommandCodec.Encode(new CompactionRequest(3))));
        Assert.Equal(KvError.FutureRevision, Apply(sm, KvCommandCodec.Encode(new CompactionRequest(4))));
    }

    [Fact]
    public void EmptyKeysAreRejectedWithoutChangingTheStore()
    {
        var sm = new KvStateMachine();
        Put(sm, "a", "1");
        Assert.Equal(KvError.EmptyKey, Apply(sm, KvCommandCodec.Encode(new PutRequest(default, B("v")))));
        Assert.Equal(KvError.EmptyKey, Apply(sm, KvCommandCodec.Encode(new DeleteRangeRequest(default, B("\0")))));
        Assert.Equal(2, sm.Store.CurrentRevision);
        Assert.Equal(1, sm.Store.KeyCount);
    }

    // etcd's ignore_value (sent by etcd's clients, found missing by the differential test against
    // etcd 3.4): the key keeps its value, and must exist; a value beside it is refused.
    [Fact]
    public void APutWithIgnoreValueKeepsTheValueOfAKeyThatExists()
    {
        var sm = new KvStateMachine();
        Put(sm, "a", "1");
        // A put of "a" with ignore_value, as etcd encodes it.
        var kept = Assert.IsType<PutResponse>(Apply(sm, Convert.FromHexString("22050A01612801")));
        Assert.Equal(3, kept.Revision);
        var a = sm.All().Pairs.Single();
        Assert.Equal(("1", 2L, 3L), (S(a.Value), a.Version, a.ModRevision));
        Assert.Equal(Raft.Kv.Lease.LeaseErrors.KeyNotFound, Apply(sm, KvCommandCodec.Encode(new PutRequest(B("b"), default, IgnoreValue: true))));
        // A put (not a txn's) looks its lease up first, as etcd's: a missing lease beats a missing key.
        Assert.Equal(Raft.Kv.Lease.LeaseErrors.NotFound, Apply(sm, KvCommandCodec.Encode(new PutRequest(B("b"), default, Lease: 0x999, IgnoreValue: true))));
        Assert.Equal(KvErrorKind.ValueProvided, Assert.IsType<KvError>(Apply(sm, KvCommandCodec.Encode(new PutRequest(B("a"), B("2"), IgnoreValue: true)))).Kind);
        Assert.Equal(3, sm.Store.CurrentRevision);
    }

    // etcd's Txn checks every put of the taken path before any range (found by the differential test).
    [Fact]
    public void ATxnReportsAPutsMissingKeyBeforeARangeAtAFutureRevision()
    {
        var sm = new KvStateMachine();
        Put(sm, "a", "1");
        var txn = new TxnRequest([], [new RangeRequest(B("a"), Revision: 99), new PutRequest(B("b"), default, IgnoreValue: true)], []);
        Assert.Equal(Raft.Kv.Lease.LeaseErrors.KeyNotFound, Apply(sm, KvCommandCodec.Encode(txn)));
    }

    // etcd 3.4 (and 3.5) panics on these: its duplicate-key check misses a from-key delete, its check of
    // the put runs before the txn, and the put then finds no key mid-txn. Found by the differential test.
    [Theory]
    [InlineData(true, false, false)]
    [InlineData(false, true, false)]
    [InlineData(true, false, true)]
    public void ATxnWhosePutIgnoresTheLeaseOrValueOfAKeyItDeletedFirstIsRefusedWithNothingWritten(bool ignoreLease, bool ignoreValue, bool nested)
    {
        var sm = new KvStateMachine();
        Put(sm, "c", "1");
        Put(sm, "e", "1");
        IKvRequest delete = new DeleteRangeRequest(B("b"), B("\0"), PrevKv: true);
        var put = new PutRequest(B("e"), ignoreValue ? default : B("v4"), IgnoreLease: ignoreLease, IgnoreValue: ignoreValue);
        var txn = nested
            ? new TxnRequest([], [new TxnRequest([], [delete], []), put], [])
            : new TxnRequest([], [delete, put], []);
        Assert.Equal(Raft.Kv.Lease.LeaseErrors.KeyNotFound, Apply(sm, KvCommandCodec.Encode(txn)));
        Assert.Equal(3, sm.Store.CurrentRevision);
        Assert.Equal(["c", "e"], sm.All().Pairs.Select(p => S(p.Key)));
        // The same put before the delete runs in order, as in etcd: nothing is missing when it runs.
        var putFirst = new TxnRequest([], [put, delete], []);
        Assert.IsType<TxnResponse>(Apply(sm, KvCommandCodec.Encode(putFirst)));
        Assert.Empty(sm.All().Pairs);
    }

    public static TheoryData<string, string> MalformedCommands => new()
    {
        { "", "no request" },
        { "FF", "bad protobuf" },                            // a truncated tag
        { "22", "bad protobuf" },                            // put, length missing
        { "2205", "bad protobuf" },                          // put, length beyond the end
        { "2203", "bad protobuf" },
        { "22020A05", "bad protobuf" },                      // key length beyond the put
        { "1A020A01", "unsupported request" },               // a RangeRequest: not a command
        { "5A020801", "unsupported request" },               // a LeaseCheckpointRequest (field 11)
        { "22020A0122020A01", "bad protobuf" },
        { "22040A016118", "bad protobuf" },                  // lease field truncated
        { "22030A0161" + "2A030A0161", "more than one request" },
        { "0A00", "unsupported request" },                   // field 1 as bytes: not etcd's request id
    };

    [Theory]
    [MemberData(nameof(MalformedCommands))]
    public void MalformedCommandsReturnAnErrorAndLeaveTheStoreAlone(string hex, string why)
    {
        var sm = new KvStateMachine();
        Put(sm, "a", "1");
        var before = sm.All();

        var result = Apply(sm, Convert.FromHexString(hex));

        var error = Assert.IsType<KvError>(result);
        Assert.Equal(KvErrorKind.MalformedCommand, error.Kind);
        Assert.Contains(why, error.Message);
        // The pairs and revision stay; only the applied index moves on (the entry was applied, refused).
        var after = sm.All();
        Assert.Equal(before.Revision, after.Revision);
        Assert.Equal(before.Pairs, after.Pairs);
        Assert.Equal(_index, sm.Store.ConsistentIndex);
    }

    [Fact]
    public void RandomBytesNeverThrowFromApply()
    {
        var rng = new Random(12345);
        var sm = new KvStateMachine();
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = new byte[rng.Next(0, 24)];
            rng.NextBytes(bytes);
            var result = Apply(sm, bytes);
            Assert.True(result is KvError or PutResponse or DeleteRangeResponse or TxnResponse or CompactionResponse or AlarmResponse, $"unexpected {result}");
        }
    }

    [Fact]
    public void TheRequestIdAndHeaderOfEtcdsEncodingAreAccepted()
    {
        // InternalRaftRequest{ID: 7, put: {key: "a", value: "b"}, header: {ID: 7}} as etcd writes it.
        var bytes = Convert.FromHexString("0807" + "22060A01611201" + "62" + "A2060208" + "07");
        var sm = new KvStateMachine();
        var put = Assert.IsType<PutResponse>(Apply(sm, bytes));
        Assert.Equal(2, put.Revision);
        Assert.Equal(new KeyValue(B("a"), 2, 2, 1, B("b")), Range(sm, "a").Kvs.Single());
    }

    [Fact]
    public void CommandEncodingIsEtcdsInternalRaftRequest()
    {
        // etcd: InternalRaftRequest{Put: &PutRequest{Key: "foo", Value: "bar", PrevKv: true}}.
        Assert.Equal("220C0A03666F6F12036261722001", Convert.ToHexString(KvCommandCodec.Encode(new PutRequest(B("foo"), B("bar"), true))));
        // InternalRaftRequest{DeleteRange: &DeleteRangeRequest{Key: "a", RangeEnd: "\x00"}}.
        Assert.Equal("2A060A0161120100", Convert.ToHexString(KvCommandCodec.Encode(new DeleteRangeRequest(B("a"), new byte[] { 0 }))));
    }

    [Fact]
    public void SnapshotRoundTripRestoresEveryPairAndTheRevision()
    {
        // The store to restore into has applied an earlier entry of the log than the snapshot's last.
        var restored = new KvStateMachine();
        Put(restored, "junk", "will be replaced");
        var sm = new KvStateMachine();
        Put(sm, "a", "1");
        Put(sm, "b", "2");
        Put(sm, "a", "3");
        Delete(sm, "b");
        Put(sm, "c", "");
        var snapshot = sm.TakeSnapshot();

        restored.Restore(snapshot);

        Assert.Equal(sm.Store.CurrentRevision, restored.Store.CurrentRevision);
        Assert.Equal(sm.All().Pairs, restored.All().Pairs);
        Assert.Equal(snapshot, restored.TakeSnapshot());
        Assert.Equal(new KeyValue(B("a"), 2, 4, 2, B("3")), Range(restored, "a").Kvs.Single());
        Assert.Equal(new KeyValue(B("c"), 6, 6, 1, default), Range(restored, "c").Kvs.Single());
        // The restored store carries on counting from the snapshot's revision.
        Assert.Equal(7, Put(restored, "d", "4").Revision);
    }

    [Fact]
    public void SnapshotsOfEqualStatesAreEqualBytes()
    {
        var one = new KvStateMachine();
        var two = new KvStateMachine();
        // The same entries at the same indexes, as every member applies them.
        ulong index = 0;
        foreach (var (key, value) in new[] { ("x", "1"), ("b", "2"), ("m", "3") })
        {
            index++;
            foreach (var sm in new[] { one, two })
                sm.Apply(index, KvCommandCodec.Encode(new PutRequest(B(key), B(value))));
        }
        Assert.Equal(one.TakeSnapshot(), two.TakeSnapshot());
    }

    // A pair {key "a", create 2, mod 2, version 1} as snapshot field 2.
    private const string PairA = "1209" + "0A0161100218022001";

    [Theory]
    [InlineData("")]                             // no revision: not even the empty store
    [InlineData("0805" + PairA + PairA)]         // the same key twice
    [InlineData("0801" + PairA)]                 // a pair modified after the store's revision
    [InlineData("0805" + "1209" + "0A01611002")] // a truncated pair
    public void RestoreRejectsBytesThatAreNotASnapshot(string hex)
    {
        var sm = new KvStateMachine();
        Put(sm, "kept", "1");
        Assert.Throws<InvalidDataException>(() => sm.Restore(Convert.FromHexString(hex)));
        Assert.Equal(2, sm.Store.CurrentRevision);
    }

    [Fact]
    public void TheSnapshotPairEncodingRestores()
    {
        var sm = new KvStateMachine();
        sm.Restore(Convert.FromHexString("0805" + PairA));
        Assert.Equal(5, sm.Store.CurrentRevision);
        Assert.Equal(new KeyValue(B("a"), 2, 2, 1, default), Range(sm, "a").Kvs.Single());
    }

    [Fact]
    public void ReadersKeepAConsistentStateWhileTheApplyLoopMovesOn()
    {
        var sm = new KvStateMachine();
        Put(sm, "a", "1");
        using var held = sm.Store.Read();
        Put(sm, "a", "2");
        Delete(sm, "a");
        Assert.Equal(2, held.Revision);
        Assert.Equal("1", S(held.Range(B("a"), default).Kvs.Single().Value));
        Assert.Empty(Range(sm, "a").Kvs);
    }
}
