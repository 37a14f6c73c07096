using System.Text;
using Raft.Kv;
using Raft.Kv.Backend;
using Raft.Kv.Codec;
using Raft.Kv.Mvcc;

namespace Raft.Shell.Tests.Kv;

/// <summary>--quota-backend-bytes and the NOSPACE alarm: raised through Raft, writes refused until it is cleared.</summary>
public class NoSpaceAlarmTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public void WhileNoSpaceIsRaisedWritesAreRefusedAndReadsAnswerAndTheAlarmSurvivesAReopen()
    {
        var backend = new MemoryBackend();
        var sm = new KvStateMachine(backend: backend);
        ulong index = 0;
        Assert.IsType<PutResponse>(sm.Apply(++index, KvCommandCodec.Encode(new PutRequest(B("a"), B("1")))));
        var raised = Assert.IsType<AlarmResponse>(sm.Apply(++index, KvCommandCodec.Encode(new AlarmRequest(AlarmAction.Activate, 7, AlarmType.NoSpace))));
        Assert.Equal([new AlarmMember(7, AlarmType.NoSpace)], raised.Alarms);

        Assert.Equal(KvError.NoSpace, sm.Apply(++index, KvCommandCodec.Encode(new PutRequest(B("b"), B("2")))));
        var writeTxn = new TxnRequest([], [new PutRequest(B("b"), B("2"))], []);
        Assert.Equal(KvError.NoSpace, sm.Apply(++index, KvCommandCodec.Encode(writeTxn)));
        var readTxn = new TxnRequest([], [new RangeRequest(B("a"))], []);
        Assert.IsType<TxnResponse>(sm.Apply(++index, KvCommandCodec.Encode(readTxn)));
        // Deletes free space, so they go on (etcd's capped applier lets them through too).
        Assert.IsType<DeleteRangeResponse>(sm.Apply(++index, KvCommandCodec.Encode(new DeleteRangeRequest(B("zz")))));
        Assert.Equal(2, sm.Store.CurrentRevision);
        Assert.Equal(index, sm.Store.ConsistentIndex);

        sm.Store.Commit();
        var reopened = new KvStateMachine(backend: backend);
        Assert.True(reopened.NoSpace);
        var get = Assert.IsType<AlarmResponse>(reopened.Apply(++index, KvCommandCodec.Encode(new AlarmRequest(AlarmAction.Get, 0, AlarmType.None))));
        Assert.Equal([new AlarmMember(7, AlarmType.NoSpace)], get.Alarms);
        reopened.Apply(++index, KvCommandCodec.Encode(new AlarmRequest(AlarmAction.Deactivate, 7, AlarmType.NoSpace)));
        Assert.False(reopened.NoSpace);
        Assert.IsType<PutResponse>(reopened.Apply(++index, KvCommandCodec.Encode(new PutRequest(B("b"), B("2")))));
    }

    private const string Header = "\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":\"3319814642761637952\",";

    [Fact]
    public async Task AWriteOverTheQuotaRaisesTheAlarmWhichTheGatewayListsAndClears()
    {
        await using var server = await KvTestServer.StartAsync(o => o.QuotaBackendBytes = 100);
        var (status, body) = await server.PostAsync("/v3/kv/put", "{\"key\":\"YQ==\",\"value\":\"Yg==\"}");
        Assert.Equal(429, status);
        Assert.Equal("{\"error\":\"etcdserver: mvcc: database space exceeded\",\"code\":8,\"message\":\"etcdserver: mvcc: database space exceeded\"}", body);

        const string alarms = "\"alarms\":[{\"memberID\":\"3319814642761637952\",\"alarm\":\"NOSPACE\"}]";
        (status, body) = await server.PostAsync("/v3/maintenance/alarm", "{}");
        Assert.Equal(200, status);
        Assert.Equal("{" + Header + "\"revision\":\"1\",\"raft_term\":\"2\"}," + alarms + "}", body);
        // Reads still answer.
        (status, _) = await server.PostAsync("/v3/kv/range", "{\"key\":\"YQ==\"}");
        Assert.Equal(200, status);

        (status, body) = await server.PostAsync("/v3/maintenance/alarm", "{\"action\":\"DEACTIVATE\",\"memberID\":\"3319814642761637952\",\"alarm\":\"NOSPACE\"}");
        Assert.Equal(200, status);
        Assert.Equal("{" + Header + "\"revision\":\"1\",\"raft_term\":\"2\"}," + alarms + "}", body);
        (_, body) = await server.PostAsync("/v3/maintenance/alarm", "{\"action\":\"GET\"}");
        Assert.Equal("{" + Header + "\"revision\":\"1\",\"raft_term\":\"2\"}}", body);
        Assert.False(server.Store.NoSpace);
    }
}
