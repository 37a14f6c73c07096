using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Raft.Kv.Backend;
using Raft.Kv.Mvcc;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Kv.Mvcc;

/// <summary>
/// The MVCC store against a deliberately naive model of etcd's MVCC: the model keeps every
/// transaction's changes in a list and answers a read at revision R by replaying the list up to R.
/// Random sequences of puts, deletes, transactions of them, ranges at past revisions, compactions,
/// forced commits and crashes (the store reopened from what its backend committed, then the log after
/// its applied index replayed, as the node does) on a tiny key space, so that keys collide, die and
/// come back. Each answer is compared as text.
/// </summary>
public class MvccStoreProperties(ITestOutputHelper output)
{
    public abstract record Op;
    public sealed record PutOp(byte[] Key, byte[] Value) : Op;
    public sealed record DeleteOp(byte[] Key, byte[] End) : Op;
    public sealed record TxnOp(Op[] Ops) : Op;
    /// <summary>A range at the current revision minus <paramref name="Back"/> (-1: revision 0, the current one; -2: the next, a future one).</summary>
    public sealed record RangeOp(byte[] Key, byte[] End, int Back, long Limit, bool Count) : Op;
    /// <summary>A compaction at the current revision minus <paramref name="Back"/>.</summary>
    public sealed record CompactOp(int Back) : Op;
    public sealed record CommitOp : Op;
    public sealed record CrashOp : Op;

    private static readonly Gen<byte[]> KeyGen = Gen.Elements<byte>(0x61, 0x62, 0x63).ArrayOf().Where(k => k.Length is > 0 and <= 2);

    private static readonly Gen<byte[]> EndGen = Gen.Frequency(
        (3, Gen.Constant(Array.Empty<byte>())),
        (1, Gen.Constant(new byte[] { 0 })),
        (3, KeyGen));

    private static readonly Gen<Op> PutGen =
        from k in KeyGen
        from v in Gen.Elements<byte>(1, 2, 3).ArrayOf().Where(a => a.Length <= 2)
        select (Op)new PutOp(k, v);

    private static readonly Gen<Op> DeleteGen =
        from k in KeyGen
        from e in EndGen
        select (Op)new DeleteOp(k, e);

    private static readonly Gen<Op> OpGen = Gen.Frequency<Op>(
        (6, PutGen),
        (3, DeleteGen),
        (2, Gen.Frequency((3, PutGen), (1, DeleteGen)).ArrayOf().Where(a => a.Length <= 4).Select(ops => (Op)new TxnOp(ops))),
        (6, from k in KeyGen
            from e in EndGen
            from back in Gen.Choose(-2, 8)
            from l in Gen.Choose(0, 3)
            from c in Gen.Frequency((1, Gen.Constant(true)), (4, Gen.Constant(false)))
            select (Op)new RangeOp(k, e, back, l, c)),
        (2, Gen.Choose(-1, 6).Select(b => (Op)new CompactOp(b))),
        (1, Gen.Constant<Op>(new CommitOp())),
        (2, Gen.Constant<Op>(new CrashOp())));

    private static readonly Arbitrary<Op[]> Ops = OpGen.ArrayOf().ToArbitrary();

    private static string Hex(ReadOnlySpan<byte> b) => Convert.ToHexString(b);

    private static string Show(IEnumerable<KeyValue> kvs) =>
        string.Join(",", kvs.Select(kv => $"{Hex(kv.Key.Span)}:{kv.CreateRevision}:{kv.ModRevision}:{kv.Version}:{Hex(kv.Value.Span)}"));

    private static bool InRange(byte[] k, byte[] key, byte[] end) =>
        end.Length == 0 ? k.AsSpan().SequenceEqual(key)
        : end is [0] ? k.AsSpan().SequenceCompareTo(key) >= 0
        : k.AsSpan().SequenceCompareTo(key) >= 0 && k.AsSpan().SequenceCompareTo(end) < 0;

    /// <summary>The naive model: the list of every transaction's changes, replayed for each read.</summary>
    private sealed class Model
    {
        private readonly List<(long Rev, Op Change)> _log = [];
        public long Current { get; private set; } = 1;
        // etcd's store starts at compaction revision -1: a first compaction at 0 is accepted.
        private long _compacted = -1;

        private SortedDictionary<string, KeyValue> StateAt(long rev)
        {
            var state = new SortedDictionary<string, KeyValue>(StringComparer.Ordinal);
            foreach (var (r, change) in _log.TakeWhile(c => c.Rev <= rev)) Apply(state, r, change);
            return state;
        }

        private static void Apply(SortedDictionary<string, KeyValue> state, long rev, Op change)
        {
            switch (change)
            {
                case PutOp p:
                    state.TryGetValue(Hex(p.Key), out var prev);
                    state[Hex(p.Key)] = new KeyValue(p.Key, prev?.CreateRevision ?? rev, rev, (prev?.Version ?? 0) + 1, p.Value);
                    break;
                case DeleteOp d:
                    foreach (var k in state.Values.Where(kv => InRange(kv.Key.ToArray(), d.Key, d.End)).Select(kv => Hex(kv.Key.Span)).ToList()) state.Remove(k);
                    break;
            }
        }

        public string Write(Op op)
        {
            var rev = Current + 1;
            var state = StateAt(Current);
            var changed = false;
            var answers = new List<string>();
            foreach (var change in op is TxnOp t ? t.Ops : [op])
            {
                if (change is PutOp)
                {
                    changed = true;
                    answers.Add($"put {rev}");
                }
                else if (change is DeleteOp d)
                {
                    var n = state.Values.Count(kv => InRange(kv.Key.ToArray(), d.Key, d.End));
                    changed |= n > 0;
                    answers.Add(n > 0 || changed ? $"del {n} {rev}" : $"del 0 {Current}");
                }
                Apply(state, rev, change);
                _log.Add((rev, change));
            }
            if (changed) Current = rev;
            else _log.RemoveAll(c => c.Rev == rev);
            return string.Join(";", answers);
        }

        public string Range(RangeOp q)
        {
            var rev = q.Back == -2 ? Current + 1 : q.Back < 0 ? 0 : Current - q.Back;
            if (rev > Current) return "error " + KvError.FutureRevision.Message;
            if (rev <= 0) rev = Current;
            if (rev < _compacted) return "error " + KvError.Compacted.Message;
            var all = StateAt(rev).Values.Where(kv => InRange(kv.Key.ToArray(), q.Key, q.End)).ToList();
            if (q.Count) return $"range {Current} count {all.Count}";
            return $"range {Current} count {all.Count} [{Show(q.Limit > 0 ? all.Take((int)q.Limit) : all)}]";
        }

        public string Compact(CompactOp c)
        {
            var rev = Current - c.Back;
            if (rev <= _compacted) return "error " + KvError.Compacted.Message;
            if (rev > Current) return "error " + KvError.FutureRevision.Message;
            _compacted = rev;
            return "compacted";
        }
    }

    /// <summary>What the property drives: the store, or a store with a deliberate bug.</summary>
    public class Subject
    {
        protected MemoryBackend Backend { get; } = new();
        protected MvccStore Store { get; private set; }
        private readonly List<(ulong Index, Op Op)> _log = [];
        private ulong _index;

        public Subject() => Store = Open();

        private MvccStore Open() =>
            // No timer: commits happen when a batch holds three changes or when forced, so that crashes lose some.
            new(Backend, new MvccStoreOptions { BatchInterval = TimeSpan.Zero, BatchLimit = 3 });

        protected virtual void Configure(MvccStore store)
        {
        }

        public string Write(Op op)
        {
            _log.Add((++_index, op));
            return Execute(_index, op);
        }

        private string Execute(ulong index, Op op)
        {
            try
            {
                if (op is CompactOp c)
                {
                    Store.SetConsistentIndex(index);
                    var rev = Store.CurrentRevision - c.Back;
                    Compact(rev);
                    return "compacted";
                }
                using var txn = Store.Write(index);
                return string.Join(";", WriteOps(txn, op is TxnOp t ? t.Ops : [op]));
            }
            catch (MvccException e)
            {
                return "error " + e.Message;
            }
        }

        protected virtual IEnumerable<string> WriteOps(MvccWriteTxn txn, Op[] ops)
        {
            var answers = new List<string>();
            foreach (var op in ops)
            {
                if (op is PutOp p)
                {
                    answers.Add($"put {txn.Put(p.Key, p.Value)}");
                }
                else if (op is DeleteOp d)
                {
                    var (n, rev) = txn.DeleteRange(d.Key, d.End);
                    answers.Add($"del {n} {rev}");
                }
            }
            return answers;
        }

        protected virtual void Compact(long revision) => Store.Compact(revision);

        public string Range(RangeOp q)
        {
            try
            {
                var rev = q.Back == -2 ? Store.CurrentRevision + 1 : q.Back < 0 ? 0 : Store.CurrentRevision - q.Back;
                using var txn = Store.Read();
                var r = txn.Range(q.Key, q.End, new RangeOptions(q.Limit, rev, q.Count));
                return q.Count ? $"range {r.Revision} count {r.Count}" : $"range {r.Revision} count {r.Count} [{Show(r.Kvs)}]";
            }
            catch (MvccException e)
            {
                return "error " + e.Message;
            }
        }

        public void Commit() => Store.Commit();

        /// <summary>Loses what is not committed, reopens from the backend and replays the log after the applied index it kept.</summary>
        public void Crash()
        {
            Store = Open();
            Configure(Store);
            foreach (var (index, op) in _log.Where(e => e.Index > Store.ConsistentIndex)) Execute(index, op);
        }

        public void Start() => Configure(Store);
    }

    private static bool AgreesWithModel(Subject subject, Op[] ops, Action<string>? log = null)
    {
        subject.Start();
        var model = new Model();
        foreach (var op in ops)
        {
            string expected, actual;
            try
            {
                (expected, actual) = op switch
                {
                    RangeOp q => (model.Range(q), subject.Range(q)),
                    CompactOp c => (model.Compact(c), subject.Write(c)),
                    CommitOp => ("", Do(subject.Commit)),
                    CrashOp => ("", Do(subject.Crash)),
                    _ => (model.Write(op), subject.Write(op)),
                };
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException)
            {
                log?.Invoke($"{op}: threw {e.Message}");
                return false;
            }
            if (expected != actual)
            {
                log?.Invoke($"{op}: expected {expected}, got {actual}");
                return false;
            }
        }
        var all = new RangeOp([0], [0], -1, 0, false);
        return model.Range(all) == subject.Range(all);
    }

    private static string Do(Action a)
    {
        a();
        return "";
    }

    private void Check(Func<Subject> subject, int maxTests)
    {
        output.WriteLine(TestSeed.Describe);
        Prop.ForAll(Ops, ops => AgreesWithModel(subject(), ops))
            .Check(TestSeed.PropertyConfig(maxTests).WithQuietOnSuccess(true));
    }

    [Fact]
    public void StoreAgreesWithTheModel() => Check(() => new Subject(), 400);

    [Fact]
    public void AHandWrittenSequenceAgreesWithTheModel()
    {
        // Deletes in a transaction after a put of the same key, a compaction between generations, a crash.
        byte[] a = "a"u8.ToArray(), b = "b"u8.ToArray();
        Op[] ops =
        [
            new PutOp(a, [1]), new PutOp(a, [2]), new TxnOp([new PutOp(b, [1]), new DeleteOp(a, []), new PutOp(a, [3])]),
            new CompactOp(1), new RangeOp(a, [0], 0, 0, false), new RangeOp(a, [0], 1, 0, false), new RangeOp(a, [0], 2, 0, false),
            new CrashOp(), new DeleteOp(a, [0]), new RangeOp(a, [0], -1, 0, true), new CommitOp(), new CrashOp(), new PutOp(a, [4]),
        ];
        var lines = new List<string>();
        Assert.True(AgreesWithModel(new Subject(), ops, lines.Add), string.Join("\n", lines));
    }

    // ---- broken stores: each carries one plausible bug, and the property must find every one ----

    /// <summary>Gives each operation of a transaction its own main revision.</summary>
    private sealed class OwnRevisionPerOp : Subject
    {
        protected override IEnumerable<string> WriteOps(MvccWriteTxn txn, Op[] ops)
        {
            if (ops.Length <= 1) return base.WriteOps(txn, ops);
            var answers = base.WriteOps(txn, ops[..1]).ToList();
            // End the transaction early and write the rest in transactions of their own.
            txn.End();
            foreach (var op in ops[1..])
            {
                using var next = Store.Write(Store.ConsistentIndex);
                answers.AddRange(base.WriteOps(next, [op]));
            }
            return answers;
        }
    }

    /// <summary>A compaction that also drops the newest revision it should have kept.</summary>
    private sealed class CompactionDropsKept : Subject
    {
        protected override void Compact(long revision)
        {
            base.Compact(revision);
            using var reader = Backend.OpenReader();
            var newest = reader.Scan(KvBucket.Key, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty)
                .Where(kv => !Revision.IsTombstoneKey(kv.Key) && Revision.FromKey(kv.Key).Main <= revision)
                .Select(kv => kv.Key).LastOrDefault();
            if (newest is null) return;
            using var batch = Backend.BeginBatch();
            batch.Delete(KvBucket.Key, newest);
            batch.Commit();
        }
    }

    /// <summary>A delete that does not end the key's generation.</summary>
    private sealed class DeleteKeepsGeneration : Subject
    {
        protected override void Configure(MvccStore store) => store.IndexForTests.FaultDeleteKeepsGeneration = true;
    }

    public static TheoryData<string> BrokenStores => new() { nameof(OwnRevisionPerOp), nameof(CompactionDropsKept), nameof(DeleteKeepsGeneration) };

    [Theory]
    [MemberData(nameof(BrokenStores))]
    public void ThePropertyCatchesABrokenStore(string broken)
    {
        Func<Subject> subject = broken switch
        {
            nameof(OwnRevisionPerOp) => () => new OwnRevisionPerOp(),
            nameof(CompactionDropsKept) => () => new CompactionDropsKept(),
            nameof(DeleteKeepsGeneration) => () => new DeleteKeepsGeneration(),
            _ => throw new ArgumentOutOfRangeException(nameof(broken)),
        };
        var failure = Assert.ThrowsAny<Exception>(() => Check(subject, 2000));
        Assert.Contains("Falsifiable", failure.Message);
    }
}
