using System.Diagnostics;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Net.Client;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Grpc;

/// <summary>
/// Watch clients that never read their streams against one <c>raft serve</c> process: puts keep
/// completing (the apply loop never waits for a watcher), and a stream that starts reading late gets
/// every event, caught up from history. Prints put latencies without and with the slow watchers and the
/// server's resident memory; asserts only generous bounds (2 shared cores).
/// </summary>
[Collection(ProcessCollection.Name)]
public class SlowWatcherTests(ITestOutputHelper output)
{
    private const int Streams = 10;
    private const int Puts = 300;

    /// <summary>A process's resident memory in KiB (/proc).</summary>
    internal static long RssKb(int pid) =>
        File.ReadLines($"/proc/{pid}/status").Where(l => l.StartsWith("VmRSS:")).Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1])).Single();

    private static string Figures(List<double> ms)
    {
        ms.Sort();
        return $"p50 {ms[ms.Count / 2]:F1} ms, p99 {ms[(int)(ms.Count * 0.99)]:F1} ms, max {ms[^1]:F1} ms";
    }

    private static async Task<List<double>> PutAllAsync(EtcdClient client, string prefix, int count, int size)
    {
        var value = new string('v', size);
        var ms = new List<double>(count);
        for (var i = 0; i < count; i++)
        {
            var sw = Stopwatch.StartNew();
            await client.PutAsync($"{prefix}{i:D4}", value);
            ms.Add(sw.Elapsed.TotalMilliseconds);
        }
        return ms;
    }

    [Fact]
    public async Task ClientsThatNeverReadDoNotHoldWritesBackAndCatchUpWhenTheyRead()
    {
        using var cluster = new ProcessCluster(1, "--heartbeat-interval", "20", "--election-timeout", "200");
        var m = await EtcdctlSingleMemberTests.StartAsync(cluster);
        var pid = m.Process!.Id;
        using var client = new EtcdClient(m.ClientUrl);
        var baseline = await PutAllAsync(client, "warm/", 100, 64 * 1024);
        var start = (await client.PutAsync("slow/start", "0")).Header.Revision + 1;

        // As etcd's clientv3: no receive limit (a catch-up response holds up to 1,000 revisions unless fragmented).
        using var channel = GrpcChannel.ForAddress(m.ClientUrl, new GrpcChannelOptions { MaxReceiveMessageSize = null });
        var watch = new Watch.WatchClient(channel);
        var calls = new List<global::Grpc.Core.AsyncDuplexStreamingCall<WatchRequest, WatchResponse>>();
        for (var i = 0; i < Streams; i++)
        {
            var call = watch.Watch();
            await call.RequestStream.WriteAsync(new WatchRequest
            {
                CreateRequest = new WatchCreateRequest { Key = ByteString.CopyFromUtf8("slow/"), RangeEnd = ByteString.CopyFromUtf8("slow0"), StartRevision = start },
            });
            calls.Add(call);
        }
        var rssBefore = RssKb(pid);
        var slow = await PutAllAsync(client, "slow/", Puts, 64 * 1024);
        var rssAfter = RssKb(pid);
        output.WriteLine($"{baseline.Count} puts of 64 KiB, no watchers: {Figures(baseline)}");
        output.WriteLine($"{Puts} puts of 64 KiB, {Streams} streams that never read: {Figures(slow)}");
        output.WriteLine($"server RSS {rssBefore / 1024} MiB before, {rssAfter / 1024} MiB after ({Streams} x {Puts} x 64 KiB = {Streams * Puts * 64 / 1024} MiB of events unread)");
        // Generous: a put that waited for a watcher would wait for ever.
        Assert.True(slow.Max() < 10_000, $"a put took {slow.Max():F0} ms with slow watchers");
        Assert.True(rssAfter < 2L * 1024 * 1024, $"server RSS {rssAfter / 1024} MiB");

        // One stream starts reading: it gets every event, in order, from history.
        var reader = calls[0].ResponseStream;
        var revisions = new List<long>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (revisions.Count < Puts && await reader.MoveNext(timeout.Token))
            revisions.AddRange(reader.Current.Events.Select(e => e.Kv.ModRevision));
        Assert.Equal(Enumerable.Range(0, Puts).Select(i => start + i), revisions);
        foreach (var call in calls) call.Dispose();
    }
}
