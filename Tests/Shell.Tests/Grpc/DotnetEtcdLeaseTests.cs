using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;

namespace Raft.Shell.Tests.Grpc;

/// <summary>
/// dotnet-etcd 10's lease calls against one <c>raft serve</c> process, and a lock built from a txn
/// and a lease as etcd's clients build one (the v3lock Lock service is not served).
/// </summary>
[Collection(ProcessCollection.Name)]
public class DotnetEtcdLeaseTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    // The lock: create the key with our lease if nobody holds it (create revision 0), in one txn.
    private static async Task<bool> TryLockAsync(EtcdClient client, string name, long lease)
    {
        var key = ByteString.CopyFromUtf8(name);
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Key = key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 });
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = ByteString.CopyFromUtf8(lease.ToString()), Lease = lease } });
        return (await client.TransactionAsync(txn)).Succeeded;
    }

    [Fact]
    public async Task DotnetEtcdGrantsKeepsAliveAndALeaseLockPassesOnWhenItsHolderStops()
    {
        using var cluster = new ProcessCluster(1, "--heartbeat-interval", "20", "--election-timeout", "200");
        var m = await EtcdctlSingleMemberTests.StartAsync(cluster);
        using var client = new EtcdClient(m.ClientUrl);

        var grant = await client.LeaseGrantAsync(new LeaseGrantRequest { TTL = 30 });
        Assert.Equal(30, grant.TTL);
        var answers = new List<LeaseKeepAliveResponse>();
        await client.LeaseKeepAlive(new LeaseKeepAliveRequest { ID = grant.ID }, r => answers.Add(r), CancellationToken.None);
        Assert.Equal(grant.ID, Assert.Single(answers).ID);
        Assert.Equal(30, answers[0].TTL);
        var ttl = await client.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = grant.ID, Keys = true });
        Assert.Equal(30, ttl.GrantedTTL);
        await client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = grant.ID });
        Assert.Empty((await client.LeaseLeasesAsync(new LeaseLeasesRequest())).Leases);

        // Holder A keeps its 2 s lease alive; B cannot take the lock while it does.
        var a = (await client.LeaseGrantAsync(new LeaseGrantRequest { TTL = 2 })).ID;
        var b = (await client.LeaseGrantAsync(new LeaseGrantRequest { TTL = 30 })).ID;
        Assert.True(await TryLockAsync(client, "lock/x", a));
        using (var holding = new CancellationTokenSource())
        {
            var keepAlive = client.LeaseKeepAlive(a, holding.Token);
            var held = System.Diagnostics.Stopwatch.StartNew();
            while (held.Elapsed < TimeSpan.FromSeconds(5))
            {
                Assert.False(await TryLockAsync(client, "lock/x", b), $"B took the lock {held.Elapsed} into A's keep-alive");
                await Task.Delay(250);
            }
            await holding.CancelAsync();
            try
            {
                await keepAlive;
            }
            catch (OperationCanceledException)
            {
                // The keep-alive loop ends by cancellation.
            }
            catch (global::Grpc.Core.RpcException e) when (e.StatusCode == global::Grpc.Core.StatusCode.Cancelled)
            {
                // Or by the call's cancellation.
            }
        }
        // A stopped: its lease expires, the lock key goes with it, and B takes the lock.
        await Wait.UntilAsync("B to take the lock after A's lease expired", Generous, () => TryLockAsync(client, "lock/x", b), cluster.Diagnostics);
        Assert.Equal(b.ToString(), await client.GetValAsync("lock/x"));
    }
}
