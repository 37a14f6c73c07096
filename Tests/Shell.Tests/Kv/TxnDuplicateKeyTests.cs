using System.Text;
using Raft.Kv.Mvcc;

namespace Raft.Shell.Tests.Kv;

/// <summary>
/// A txn that writes a key twice is refused as etcd 3.4's checkIntervals refuses it: nested txns'
/// branches count with their parent's, the two branches of one nested txn may put the same key, and
/// a delete whose range end is not above its key (the from-key "\0") meets no key. Each case was
/// answered so by etcd 3.4 (in the differential test, Tests/Shell.Tests/Differential, or by hand).
/// </summary>
public class TxnDuplicateKeyTests
{
    private static ReadOnlyMemory<byte> B(string s) => Encoding.UTF8.GetBytes(s);

    private static PutRequest Put(string k) => new(B(k), B("v"));

    private static DeleteRangeRequest Del(string k, string end = "") => new(B(k), B(end));

    private static TxnRequest Txn(IKvRequest[] success, IKvRequest[]? failure = null) => new([], success, failure ?? []);

    public static TheoryData<string, TxnRequest, bool> Cases() => new()
    {
        { "a put of a nested txn's branch and its parent's own put", Txn([Txn([Put("d")]), Put("d")]), true },
        // The case the differential test found: put d in a branch and in a txn nested under it.
        { "a nested txn's success put and its nested txn's failure put", Txn([Txn([Put("d"), Txn([], [Put("d")])])]), true },
        { "the two branches of one nested txn", Txn([Txn([Put("d")], [Put("d")])]), false },
        { "puts of two nested txns", Txn([Txn([Put("d")]), Txn([], [Put("d")])]), true },
        { "a nested delete and its parent's put", Txn([Txn([Del("a", "c")]), Put("b")]), true },
        { "a put and a delete of one branch", Txn([Del("b"), Put("b")]), true },
        { "a put and a delete in different branches", Txn([Put("b")], [Del("b")]), false },
        { "a from-key delete and a put above it", Txn([Del("a", "\0"), Put("b")]), false },
        { "a delete of every key and a put", Txn([Del("\0", "\0"), Put("a")]), false },
        { "a delete whose end is below its key, and a put between", Txn([Del("d", "b"), Put("c")]), false },
        { "a delete's end is not in its range", Txn([Del("a", "c"), Put("c")]), false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void DuplicateWritesAreRefusedAsEtcdRefusesThem(string name, TxnRequest txn, bool refused)
    {
        Assert.True(refused == (txn.Check() == KvError.DuplicateKey), $"{name}: {(refused ? "not refused" : "refused")}");
    }

    // etcd checks every request of the tree before it looks for a key written twice.
    [Fact]
    public void AnInvalidRequestIsReportedBeforeADuplicateKeyInANestedTxn()
    {
        var valueBesideIgnoreValue = new PutRequest(B("e"), B("v"), IgnoreValue: true);
        Assert.Equal(KvErrorKind.ValueProvided, Txn([Txn([Put("d"), Put("d")]), valueBesideIgnoreValue]).Check()?.Kind);
    }
}
