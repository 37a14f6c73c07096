using System.Collections.Concurrent;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;

namespace Raft.Shell.Tests.Grpc;

/// <summary>dotnet-etcd 10's watch against one <c>raft serve</c> process: the events it hands over after puts and deletes.</summary>
[Collection(ProcessCollection.Name)]
public class DotnetEtcdWatchTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task DotnetEtcdWatchSeesPutsAndDeletesWithPreviousValues()
    {
        using var cluster = new ProcessCluster(1, "--heartbeat-interval", "20", "--election-timeout", "200");
        var m = await EtcdctlSingleMemberTests.StartAsync(cluster);
        using var client = new EtcdClient(m.ClientUrl);
        var first = await client.PutAsync("w/a", "0");

        var seen = new ConcurrentQueue<string>();
        var request = new WatchRequest
        {
            CreateRequest = new WatchCreateRequest
            {
                Key = ByteString.CopyFromUtf8("w/"), RangeEnd = ByteString.CopyFromUtf8("w0"), PrevKv = true, StartRevision = first.Header.Revision,
            },
        };
        using var stop = new CancellationTokenSource();
        var watching = client.WatchAsync(request, (WatchResponse r) =>
        {
            foreach (var e in r.Events)
                seen.Enqueue($"{e.Type} {e.Kv.Key.ToStringUtf8()}={e.Kv.Value.ToStringUtf8()} prev={e.PrevKv?.Value.ToStringUtf8() ?? "-"} @{e.Kv.ModRevision}");
        }, cancellationToken: stop.Token);

        var r1 = await client.PutAsync("w/a", "1");
        var r2 = await client.PutAsync("w/b", "2");
        await client.PutAsync("other", "x");
        var r3 = await client.DeleteAsync("w/a");

        await Wait.UntilAsync("four watch events", Generous, () => Task.FromResult(seen.Count >= 4), () => string.Join("\n", seen));
        Assert.Equal(
            [$"Put w/a=0 prev=- @{first.Header.Revision}", $"Put w/a=1 prev=0 @{r1.Header.Revision}", $"Put w/b=2 prev=- @{r2.Header.Revision}", $"Delete w/a= prev=1 @{r3.Header.Revision}"],
            seen.ToArray());
        stop.Cancel();
        try
        {
            await watching;
        }
        catch (Exception ex) when (ex is OperationCanceledException or global::Grpc.Core.RpcException)
        {
        }
    }
}
