using FsCheck;
using FsCheck.Fluent;
using Raft.Kv;
using Raft.Kv.Codec;
using Raft.Kv.Mvcc;

namespace Raft.Shell.Tests.Kv;

/// <summary>
/// The store against a deliberately naive model of etcd's counting (a sorted dictionary scanned in
/// full), over random sequences of puts, deletes, ranges and snapshot round trips on a tiny key space
/// so that keys collide, get deleted and come back.
/// </summary>
public class KvStoreProperties
{
    public abstract record Op;
    public sealed record PutOp(byte[] Key, byte[] Value, bool PrevKv) : Op;
    public sealed record DeleteOp(byte[] Key, byte[] End, bool PrevKv) : Op;
    public sealed record RangeOp(byte[] Key, byte[] End, long Limit, bool CountOnly, bool KeysOnly) : Op;
    public sealed record SnapshotOp : Op;

    private static readonly Gen<byte[]> KeyGen =
        Gen.Elements<byte>(0x00, 0x01, 0x61, 0x62, 0xFF).ArrayOf().Where(k => k.Length is > 0 and <= 3);

    private static readonly Gen<byte[]> EndGen = Gen.Frequency(
        (3, Gen.Constant(Array.Empty<byte>())),
        (2, Gen.Constant(new byte[] { 0 })),
        (4, KeyGen));

    private static readonly Gen<Op> OpGen = Gen.Frequency<Op>(
        (5, from k in KeyGen
            from v in Gen.Elements<byte>(1, 2, 3).ArrayOf().Where(a => a.Length <= 2)
            from p in Gen.Elements(true, false)
            select (Op)new PutOp(k, v, p)),
        (2, from k in KeyGen
            from e in EndGen
            from p in Gen.Elements(true, false)
            select (Op)new DeleteOp(k, e, p)),
        (4, from k in KeyGen
            from e in EndGen
            from l in Gen.Choose(-1, 4)
            from c in Gen.Frequency((1, Gen.Constant(true)), (5, Gen.Constant(false)))
            from ko in Gen.Elements(true, false)
            select (Op)new RangeOp(k, e, l, c, ko)),
        (1, Gen.Constant<Op>(new SnapshotOp())));

    private static readonly Arbitrary<Op[]> Ops = OpGen.ArrayOf().ToArbitrary();

    /// <summary>What the property drives: the real state machine or a deliberately broken one.</summary>
    public interface ISubject
    {
        object? Apply(byte[] command);
        object Range(RangeRequest request);
        void SnapshotRoundTrip();
    }

    private sealed class Real : ISubject
    {
        private KvStateMachine _sm = new();
        private ulong _index;

        public object? Apply(byte[] command) => _sm.Apply(++_index, command);

        public object Range(RangeRequest request) => _sm.Range(request);

        public void SnapshotRoundTrip()
        {
            var restored = new KvStateMachine();
            restored.Restore(_sm.TakeSnapshot());
            _sm = restored;
        }
    }

    /// <summary>The naive model: every operation scans the whole dictionary.</summary>
    private sealed class Model
    {
        private sealed class ByteOrder : IComparer<byte[]>
        {
            public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
        }

        private readonly SortedDictionary<byte[], KeyValue> _keys = new(new ByteOrder());

        public long Revision { get; private set; } = 1;

        private static bool InRange(byte[] k, byte[] key, byte[] end) =>
            end.Length == 0 ? k.AsSpan().SequenceEqual(key)
            : end is [0] ? k.AsSpan().SequenceCompareTo(key) >= 0
            : k.AsSpan().SequenceCompareTo(key) >= 0 && k.AsSpan().SequenceCompareTo(end) < 0;

        public PutResponse Put(PutOp op)
        {
            Revision++;
            _keys.TryGetValue(op.Key, out var prev);
            _keys[op.Key] = new KeyValue(op.Key, prev?.CreateRevision ?? Revision, Revision, (prev?.Version ?? 0) + 1, op.Value);
            return new PutResponse(Revision, op.PrevKv ? prev : null);
        }

        public DeleteRangeResponse Delete(DeleteOp op)
        {
            var victims = _keys.Values.Where(kv => InRange(kv.Key.ToArray(), op.Key, op.End)).ToList();
            foreach (var kv in victims) _keys.Remove(kv.Key.ToArray());
            if (victims.Count > 0) Revision++;
            return new DeleteRangeResponse(Revision, victims.Count, op.PrevKv ? victims : []);
        }

        public RangeResponse Range(RangeOp op)
        {
            var all = _keys.Values.Where(kv => InRange(kv.Key.ToArray(), op.Key, op.End)).ToList();
            if (op.CountOnly) return new RangeResponse(Revision, [], false, all.Count);
            var shown = op.Limit > 0 ? all.Take((int)op.Limit).ToList() : all;
            if (op.KeysOnly) shown = shown.Select(kv => new KeyValue(kv.Key, kv.CreateRevision, kv.ModRevision, kv.Version, default)).ToList();
            return new RangeResponse(Revision, shown, op.Limit > 0 && all.Count > op.Limit, all.Count);
        }
    }

    private static bool SamePut(PutResponse a, PutResponse b) => a.Revision == b.Revision && Equals(a.PrevKv, b.PrevKv);

    private static bool SameDelete(DeleteRangeResponse a, DeleteRangeResponse b) =>
        a.Revision == b.Revision && a.Deleted == b.Deleted && a.PrevKvs.SequenceEqual(b.PrevKvs);

    private static bool SameRange(RangeResponse a, RangeResponse b) =>
        a.Revision == b.Revision && a.More == b.More && a.Count == b.Count && a.Kvs.SequenceEqual(b.Kvs);

    /// <summary>Runs <paramref name="ops"/> on the subject and the model; true when every answer agrees.</summary>
    private static bool AgreesWithModel(ISubject subject, Op[] ops)
    {
        var model = new Model();
        foreach (var op in ops)
        {
            var same = op switch
            {
                PutOp p => subject.Apply(KvCommandCodec.Encode(new PutRequest(p.Key, p.Value, p.PrevKv))) is PutResponse r && SamePut(r, model.Put(p)),
                DeleteOp d => subject.Apply(KvCommandCodec.Encode(new DeleteRangeRequest(d.Key, d.End, d.PrevKv))) is DeleteRangeResponse r && SameDelete(r, model.Delete(d)),
                RangeOp q => subject.Range(new RangeRequest(q.Key, q.End, q.Limit, 0, q.CountOnly, q.KeysOnly)) is RangeResponse r && SameRange(r, model.Range(q)),
                SnapshotOp => Snapshot(subject),
                _ => false,
            };
            if (!same) return false;
        }
        // Finally the whole store must match.
        return subject.Range(new RangeRequest(new byte[] { 0 }, new byte[] { 0 })) is RangeResponse all
               && SameRange(all, model.Range(new RangeOp([0], [0], 0, false, false)));
    }

    private static bool Snapshot(ISubject subject)
    {
        subject.SnapshotRoundTrip();
        return true;
    }

    private static void Check(Func<ISubject> subject, int maxTests) =>
        Prop.ForAll(Ops, ops => AgreesWithModel(subject(), ops))
            .Check(TestSeed.PropertyConfig(maxTests).WithQuietOnSuccess(true));

    [Fact]
    public void StoreAgreesWithTheModel() => Check(() => new Real(), 500);

    // The broken subjects below each carry one plausible bug; the property must find every one.

    /// <summary>Forgets etcd's mkGteRange: a range end of "\0" read as "the single key".</summary>
    private sealed class OpenEndedAsSingleKey : ISubject
    {
        private readonly Real _real = new();
        public object? Apply(byte[] command) => _real.Apply(command);
        public object Range(RangeRequest request) =>
            _real.Range(request.RangeEnd.Span is [0] ? request with { RangeEnd = default } : request);
        public void SnapshotRoundTrip() => _real.SnapshotRoundTrip();
    }

    /// <summary>Says there is more when the range holds exactly the limit.</summary>
    private sealed class MoreOffByOne : ISubject
    {
        private readonly Real _real = new();
        public object? Apply(byte[] command) => _real.Apply(command);
        public object Range(RangeRequest request) =>
            _real.Range(request) is RangeResponse r && request.Limit > 0 && !request.CountOnly
                ? r with { More = r.Count >= request.Limit }
                : _real.Range(request);
        public void SnapshotRoundTrip() => _real.SnapshotRoundTrip();
    }

    /// <summary>A codec that drops the prev_kv flag of puts.</summary>
    private sealed class DropsPrevKv : ISubject
    {
        private readonly Real _real = new();
        public object? Apply(byte[] command) =>
            _real.Apply(KvCommandCodec.Decode(command) is PutRequest p ? KvCommandCodec.Encode(p with { PrevKv = false }) : command);
        public object Range(RangeRequest request) => _real.Range(request);
        public void SnapshotRoundTrip() => _real.SnapshotRoundTrip();
    }

    /// <summary>A snapshot that loses the store revision (restores at revision 1 more than the last pair's).</summary>
    private sealed class SnapshotLosesRevision : ISubject
    {
        private KvStateMachine _sm = new();
        private ulong _index;
        public object? Apply(byte[] command) => _sm.Apply(++_index, command);
        public object Range(RangeRequest request) => _sm.Range(request);
        public void SnapshotRoundTrip()
        {
            var pairs = _sm.All().Pairs.ToList();
            var rev = pairs.Count == 0 ? 1 : pairs.Max(kv => kv.ModRevision);
            var restored = new KvStateMachine();
            restored.Restore(KvSnapshotCodec.Encode(rev, pairs));
            _sm = restored;
        }
    }

    public static TheoryData<string> BrokenSubjects => new() { nameof(OpenEndedAsSingleKey), nameof(MoreOffByOne), nameof(DropsPrevKv), nameof(SnapshotLosesRevision) };

    [Theory]
    [MemberData(nameof(BrokenSubjects))]
    public void ThePropertyCatchesABrokenStore(string broken)
    {
        Func<ISubject> subject = broken switch
        {
            nameof(OpenEndedAsSingleKey) => () => new OpenEndedAsSingleKey(),
            nameof(MoreOffByOne) => () => new MoreOffByOne(),
            nameof(DropsPrevKv) => () => new DropsPrevKv(),
            nameof(SnapshotLosesRevision) => () => new SnapshotLosesRevision(),
            _ => throw new ArgumentOutOfRangeException(nameof(broken)),
        };
        var failure = Assert.ThrowsAny<Exception>(() => Check(subject, 2000));
        Assert.Contains("Falsifiable", failure.Message);
    }
}
