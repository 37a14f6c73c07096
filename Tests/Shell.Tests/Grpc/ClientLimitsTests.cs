using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Grpc;

/// <summary>One <c>raft serve</c> on 127.0.25.1 with every client port limit set small, shared by <see cref="ClientLimitsTests"/>.</summary>
public sealed class LimitedMember : IAsyncLifetime
{
    public const int MaxRequestBytes = 64 * 1024;
    public const int MaxRecvBytes = 128 * 1024;
    public const int MaxSendBytes = 2 * 1024 * 1024;
    public const int MaxStreams = 10;
    public const int MaxConnections = 12;
    public const int MaxWatches = 20;
    public static readonly TimeSpan HeaderTimeout = TimeSpan.FromSeconds(2);

    private readonly ProcessCluster _cluster = new("127.0.25.1", 1,
        "--heartbeat-interval", "20", "--election-timeout", "200",
        "--max-request-bytes", $"{MaxRequestBytes}", "--max-recv-bytes", $"{MaxRecvBytes}", "--max-send-bytes", $"{MaxSendBytes}",
        "--max-concurrent-streams", $"{MaxStreams}", "--max-client-connections", $"{MaxConnections}",
        "--max-watches-per-connection", $"{MaxWatches}", "--request-header-timeout", "2s");

    internal EndToEnd.Member Member { get; private set; } = null!;

    public Uri Url => new(Member.ClientUrl);

    public async Task InitializeAsync() => Member = await EtcdctlSingleMemberTests.StartAsync(_cluster);

    public Task DisposeAsync()
    {
        _cluster.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>A gRPC channel of its own (one connection), without a receive limit as etcd's clientv3.</summary>
    public GrpcChannel Channel() => GrpcChannel.ForAddress(Member.ClientUrl, new GrpcChannelOptions { MaxReceiveMessageSize = null });

    /// <summary>A put and a get of a fresh key through a new connection: the member serves a normal client.</summary>
    public async Task NormalClientServesAsync(string what)
    {
        using var channel = Channel();
        await PutGetAsync(new KV.KVClient(channel), what);
    }

    /// <summary>A put and a get on an existing connection.</summary>
    public static async Task PutGetAsync(KV.KVClient kv, string what)
    {
        var key = $"normal/{Guid.NewGuid():N}";
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(what) }, cancellationToken: timeout.Token);
        var got = await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key) }, cancellationToken: timeout.Token);
        Assert.Equal(what, got.Kvs.Single().Value.ToStringUtf8());
    }

    /// <summary>A gauge of <c>/metrics</c>.</summary>
    public async Task<double> MetricAsync(string name)
    {
        var reply = await Member.Client.GetAsync("/metrics");
        Assert.NotNull(reply);
        var m = Regex.Match(reply.Body, $@"^{name}(?:\{{[^}}]*\}})? (\S+)$", RegexOptions.Multiline);
        Assert.True(m.Success, $"no {name} in /metrics:\n{reply.Body}");
        return double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// The client port's limits over real sockets against a <c>raft serve</c> process: each limit,
/// exceeded, gives a clear error (a gRPC status, an HTTP status with a message, an HTTP/2 stream
/// reset, or a closed connection and a log line naming the limit), and a normal client's put and get
/// succeed while it is exceeded and after.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class ClientLimitsTests(LimitedMember server, ITestOutputHelper output) : IClassFixture<LimitedMember>
{
    [Fact]
    public async Task OversizedPutsAreRefusedOnGrpcAndTheGatewayWithEtcdsErrors()
    {
        using var channel = server.Channel();
        var kv = new KV.KVClient(channel);
        PutRequest Put(int size) => new() { Key = ByteString.CopyFromUtf8("big"), Value = ByteString.CopyFrom(new byte[size]) };

        // Past --max-request-bytes, within --max-recv-bytes: decoded, then refused as etcd refuses it.
        var tooLarge = await Assert.ThrowsAsync<RpcException>(() => kv.PutAsync(Put(100 * 1024)).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, tooLarge.StatusCode);
        Assert.Equal("etcdserver: request is too large", tooLarge.Status.Detail);
        // Past --max-recv-bytes: refused before it is decoded.
        var tooLargeToRead = await Assert.ThrowsAsync<RpcException>(() => kv.PutAsync(Put(200 * 1024)).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, tooLargeToRead.StatusCode);
        output.WriteLine($"gRPC: {tooLarge.Status}; {tooLargeToRead.Status}");
        await LimitedMember.PutGetAsync(kv, "after oversized gRPC puts");

        // The gateway: the same two refusals, with etcd's JSON errors.
        string Body(int size) => $"{{\"key\":\"{GatewayClient.B64("big")}\",\"value\":\"{Convert.ToBase64String(new byte[size])}\"}}";
        var g1 = await server.Member.Client.PostAsync("/v3/kv/put", Body(100 * 1024));
        Assert.Equal(400, g1!.Status);
        Assert.Contains("etcdserver: request is too large", g1.Body);
        var g2 = await server.Member.Client.PostAsync("/v3/kv/put", Body(200 * 1024));
        // grpc-gateway's status for ResourceExhausted.
        Assert.Equal(429, g2!.Status);
        Assert.Contains($"grpc: received message larger than max (", g2.Body);
        Assert.Contains($"vs. {LimitedMember.MaxRecvBytes})", g2.Body);
        output.WriteLine($"gateway: {g1}; {g2}");
        await server.NormalClientServesAsync("after oversized gateway puts");
    }

    [Fact]
    public async Task AHostileProtobufMessageIsRefusedWithInvalidArgumentAndTheMemberServesOn()
    {
        using var channel = server.Channel();
        var raw = new Method<byte[], byte[]>(MethodType.Unary, "etcdserverpb.KV", "Txn", Marshallers.Create(b => b, b => b), Marshallers.Create(b => b, b => b));
        var rss = RssKb(server.Member.Process!.Id);
        var ex = await Assert.ThrowsAsync<RpcException>(() => channel.CreateCallInvoker()
            .AsyncUnaryCall(raw, null, new CallOptions(), Convert.FromBase64String(Fuzz.GrpcRequestCheckTests.HostileTxn)).ResponseAsync);
        output.WriteLine($"{ex.Status}; server RSS {rss / 1024} MiB before, {RssKb(server.Member.Process!.Id) / 1024} MiB after");
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.StartsWith("grpc: error unmarshalling request: etcdserverpb.TxnRequest", ex.Status.Detail);
        await LimitedMember.PutGetAsync(new KV.KVClient(channel), "after a hostile message");
    }

    [Fact]
    public async Task AnAnswerPastTheSendLimitFailsWithResourceExhaustedAndSmallerOnesGoOut()
    {
        using var channel = server.Channel();
        var kv = new KV.KVClient(channel);
        for (var i = 0; i < 40; i++)
            await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"send/{i:D2}"), Value = ByteString.CopyFrom(new byte[60 * 1024]) });
        // Forty values of 60 KiB: 2.3 MiB, past --max-send-bytes (2 MiB).
        var all = new RangeRequest { Key = ByteString.CopyFromUtf8("send/"), RangeEnd = ByteString.CopyFromUtf8("send0") };
        var refused = await Assert.ThrowsAsync<RpcException>(() => kv.RangeAsync(all).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        output.WriteLine(refused.Status.ToString());
        all.Limit = 3;
        Assert.Equal(3, (await kv.RangeAsync(all)).Kvs.Count);
        await LimitedMember.PutGetAsync(kv, "after a refused answer");
    }

    [Fact]
    public async Task AStreamPastMaxConcurrentStreamsIsRefusedAndTheConnectionsOthersGoOn()
    {
        await using var h2 = await RawHttp2.ConnectAsync(server.Url);
        var headers = RawHttp2.GrpcRequestHeaders($"{server.Url.Host}:{server.Url.Port}", "/etcdserverpb.Watch/Watch");
        // Watch calls stay open (no END_STREAM): one more than the limit.
        var ids = Enumerable.Range(0, LimitedMember.MaxStreams + 1).Select(i => 1 + 2 * i).ToList();
        foreach (var id in ids)
            await h2.WriteFrameAsync(RawHttp2.Headers, RawHttp2.EndHeaders, id, headers);
        var last = ids[^1];
        await Wait.UntilAsync($"a reset of stream {last}", TimeSpan.FromSeconds(20), () => Task.FromResult(h2.ResetCode(last) is not null || h2.Closed));
        Assert.False(h2.Closed, "the server closed the whole connection");
        Assert.Equal(RawHttp2.RefusedStream, h2.ResetCode(last));
        Assert.All(ids[..^1], id => Assert.Null(h2.ResetCode(id)));
        output.WriteLine($"stream {last}: RST_STREAM REFUSED_STREAM; streams {ids[0]}..{ids[^2]} open");
        // While that connection holds its limit: other clients are served.
        await server.NormalClientServesAsync("while a connection holds its streams");
        await h2.DisposeAsync();
        await server.NormalClientServesAsync("after");
    }

    [Fact]
    public async Task WatchesPastThePerConnectionLimitAreRefusedWithItsName()
    {
        using var channel = server.Channel();
        var watch = new Watch.WatchClient(channel);
        using var a = watch.Watch();
        using var b = watch.Watch();
        async Task<WatchResponse> CreateAsync(AsyncDuplexStreamingCall<WatchRequest, WatchResponse> call, string key)
        {
            await call.RequestStream.WriteAsync(new WatchRequest { CreateRequest = new WatchCreateRequest { Key = ByteString.CopyFromUtf8(key) } });
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            Assert.True(await call.ResponseStream.MoveNext(timeout.Token));
            return call.ResponseStream.Current;
        }
        var ids = new List<long>();
        for (var i = 0; i < LimitedMember.MaxWatches; i++)
        {
            var r = await CreateAsync(a, $"w/{i}");
            Assert.True(r.Created && !r.Canceled, r.ToString());
            ids.Add(r.WatchId);
        }
        // One more on the same stream, and one on another stream of the same connection: refused.
        foreach (var call in new[] { a, b })
        {
            var refused = await CreateAsync(call, "w/over");
            Assert.True(refused.Created && refused.Canceled, refused.ToString());
            Assert.Equal($"etcdserver: too many watches on this connection (max-watches-per-connection {LimitedMember.MaxWatches})", refused.CancelReason);
        }
        // The stream goes on: cancel one, and the next create fits.
        await a.RequestStream.WriteAsync(new WatchRequest { CancelRequest = new WatchCancelRequest { WatchId = ids[0] } });
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            Assert.True(await a.ResponseStream.MoveNext(timeout.Token));
            Assert.True(a.ResponseStream.Current.Canceled);
        }
        var fits = await CreateAsync(b, "w/again");
        Assert.True(fits.Created && !fits.Canceled, fits.ToString());
        // Another connection has its own count.
        using var other = server.Channel();
        using var c = new Watch.WatchClient(other).Watch();
        var own = await CreateAsync(c, "w/other");
        Assert.True(own.Created && !own.Canceled, own.ToString());
        // The watchers still deliver.
        await new KV.KVClient(other).PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8("w/1"), Value = ByteString.CopyFromUtf8("x") });
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            Assert.True(await a.ResponseStream.MoveNext(timeout.Token));
            Assert.Equal("w/1", a.ResponseStream.Current.Events.Single().Kv.Key.ToStringUtf8());
        }
        await server.NormalClientServesAsync("after refused watches");
    }

    [Fact]
    public async Task AConnectionPastTheLimitIsClosedAndLoggedWhileOpenOnesAreServed()
    {
        // A normal client connected before the port fills up.
        using var normal = server.Channel();
        var kv = new KV.KVClient(normal);
        await LimitedMember.PutGetAsync(kv, "before");
        var held = new List<TcpClient>();
        var served = 0;
        var refused = false;
        try
        {
            for (var i = 0; i < LimitedMember.MaxConnections + 5 && !refused; i++)
            {
                var tcp = new TcpClient();
                held.Add(tcp);
                var buffer = new byte[512];
                int n;
                try
                {
                    // A connection past the limit is closed at once: the connect, the write or the read fails, or the read ends.
                    await tcp.ConnectAsync(server.Url.Host, server.Url.Port);
                    var s = tcp.GetStream();
                    await s.WriteAsync(Encoding.ASCII.GetBytes("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
                    n = await s.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
                }
                catch (Exception ex) when (ex is IOException or SocketException)
                {
                    n = 0;
                }
                if (n > 0 && Encoding.ASCII.GetString(buffer, 0, n).StartsWith("HTTP/1.1 200", StringComparison.Ordinal)) served++;
                else refused = true;
            }
            output.WriteLine($"{served} connections served, then one closed (limit {LimitedMember.MaxConnections}, the normal client's and the test's gateway client's count too)");
            Assert.True(refused, $"all {held.Count} connections were served");
            Assert.InRange(served, LimitedMember.MaxConnections - 4, LimitedMember.MaxConnections - 1);
            await Wait.UntilAsync("the log line", TimeSpan.FromSeconds(10), () => Task.FromResult(
                server.Member.Output.Contains($"rejected client connection: too many open connections", StringComparison.Ordinal)
                && server.Member.Output.Contains($"max-client-connections={LimitedMember.MaxConnections})", StringComparison.Ordinal)));
            // The port is full; the connection already open is served.
            await LimitedMember.PutGetAsync(kv, "while the port is full");
        }
        finally
        {
            held.ForEach(t => t.Dispose());
        }
        await Wait.UntilAsync("a new connection served", TimeSpan.FromSeconds(20), async () =>
        {
            try
            {
                await server.NormalClientServesAsync("after");
                return true;
            }
            catch (RpcException)
            {
                return false;
            }
        });
    }

    [Fact]
    public async Task ASlowlorisClientIsCutAtTheHeaderTimeoutWhileOthersAreServed()
    {
        // HTTP/1.1: a request line, then a header a byte at a time, never finished.
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Url.Host, server.Url.Port);
        var s = tcp.GetStream();
        var sw = Stopwatch.StartNew();
        await s.WriteAsync(Encoding.ASCII.GetBytes("POST /v3/kv/range HTTP/1.1\r\nHost: x\r\n"));
        var answer = ReadAllAsync(s);
        var sent = 0;
        using (var drip = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (!answer.IsCompleted && !drip.IsCancellationRequested)
            {
                try
                {
                    await s.WriteAsync(new[] { (byte)'X' });
                    sent++;
                }
                catch (IOException)
                {
                    break;
                }
                await Task.WhenAny(answer, Task.Delay(100));
                if (sent == 5) await server.NormalClientServesAsync("during a slowloris client");
            }
        }
        var text = await answer.WaitAsync(TimeSpan.FromSeconds(10));
        output.WriteLine($"HTTP/1.1: after {sw.Elapsed.TotalSeconds:F1} s and {sent} header bytes: {text.Split('\n')[0].Trim()}");
        Assert.StartsWith("HTTP/1.1 408", text);
        Assert.InRange(sw.Elapsed, LimitedMember.HeaderTimeout * 0.9, TimeSpan.FromSeconds(20));

        // HTTP/2's preface a byte at a time: the connection is closed at the same timeout.
        using var tcp2 = new TcpClient();
        await tcp2.ConnectAsync(server.Url.Host, server.Url.Port);
        var s2 = tcp2.GetStream();
        var closed = ReadAllAsync(s2);
        sw.Restart();
        var preface = Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        var i = 0;
        for (; i < preface.Length - 1 && !closed.IsCompleted; i++)
        {
            try
            {
                await s2.WriteAsync(preface.AsMemory(i, 1));
            }
            catch (IOException)
            {
                break;
            }
            await Task.WhenAny(closed, Task.Delay(400));
        }
        await closed.WaitAsync(TimeSpan.FromSeconds(20));
        output.WriteLine($"HTTP/2 preface: closed after {sw.Elapsed.TotalSeconds:F1} s and {i} of its 24 bytes");
        Assert.True(i < preface.Length - 1, "the whole preface went through");

        // HTTP/2: a header block sent a byte at a time in CONTINUATION frames, never ended.
        await using var h2 = await RawHttp2.ConnectAsync(server.Url);
        // Nothing may come between a header block's frames, not even the SETTINGS acknowledgement.
        await h2.SettledAsync();
        var block = RawHttp2.GrpcRequestHeaders($"{server.Url.Host}:{server.Url.Port}", "/etcdserverpb.KV/Range");
        sw.Restart();
        await h2.WriteFrameAsync(RawHttp2.Headers, 0, 1, block[..2]);
        var dripped = 2;
        while (!h2.Closed && dripped < block.Length - 1 && sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(200);
            try
            {
                await h2.WriteFrameAsync(RawHttp2.Continuation, 0, 1, block[dripped..(dripped + 1)]);
                dripped++;
            }
            catch (IOException)
            {
                break;
            }
        }
        await Wait.UntilAsync("the open header block's connection closed", TimeSpan.FromSeconds(30), () => Task.FromResult(h2.Closed));
        var goAway = h2.Frames.Where(f => f.Type == RawHttp2.GoAway).Select(f => RawHttp2.BigEndian(f.Payload, 4)).ToList();
        output.WriteLine($"HTTP/2 header block a byte at a time: closed after {sw.Elapsed.TotalSeconds:F1} s and {dripped} of {block.Length} bytes (GOAWAY codes: {string.Join(", ", goAway)})");
        Assert.True(dripped < block.Length - 1, "the whole header block went through");
        await server.NormalClientServesAsync("after slowloris clients");
    }

    [Fact]
    public async Task AnEndlessHeaderBlockIsRefusedWithoutBeingHeld()
    {
        // The HTTP/2 CONTINUATION flood: a header block of valid HPACK literals (x-a: 126 bytes) that never ends.
        await using var h2 = await RawHttp2.ConnectAsync(server.Url);
        await h2.SettledAsync();
        var literal = new byte[] { 0x00, 3, (byte)'x', (byte)'-', (byte)'a', 126 }.Concat(Enumerable.Repeat((byte)'a', 126)).ToArray();
        var fragment = Enumerable.Range(0, 16 * 1024 / literal.Length).SelectMany(_ => literal).ToArray();
        var headers = RawHttp2.GrpcRequestHeaders($"{server.Url.Host}:{server.Url.Port}", "/etcdserverpb.KV/Range");
        var rss = RssKb(server.Member.Process!.Id);
        long sent = 0;
        try
        {
            await h2.WriteFrameAsync(RawHttp2.Headers, 0, 1, headers);
            while (!h2.Closed && sent < 64L * 1024 * 1024)
            {
                await h2.WriteFrameAsync(RawHttp2.Continuation, 0, 1, fragment);
                sent += fragment.Length;
            }
        }
        catch (IOException)
        {
        }
        await Wait.UntilAsync("the connection closed", TimeSpan.FromSeconds(20), () => Task.FromResult(h2.Closed));
        var goAway = h2.Frames.Where(f => f.Type == RawHttp2.GoAway).Select(f => RawHttp2.BigEndian(f.Payload, 4)).ToList();
        output.WriteLine($"closed after {sent / 1024} KiB of CONTINUATION frames (GOAWAY codes: {string.Join(", ", goAway)}); server RSS {rss / 1024} MiB before, {RssKb(server.Member.Process!.Id) / 1024} MiB after");
        Assert.True(sent < 64L * 1024 * 1024, "64 MiB of one header block were taken");
        await server.NormalClientServesAsync("after a CONTINUATION flood");
    }

    private static long RssKb(int pid) => SlowWatcherTests.RssKb(pid);

    [Fact]
    public async Task WatchStreamsThatNeverReadAreLeftBehindWithBoundedQueuesWhileAReaderGetsEveryEvent()
    {
        const int slowStreams = 16, puts = 4000, valueSize = 10 * 1024, writers = 8;
        var pid = server.Member.Process!.Id;
        var rssBefore = RssKb(pid);
        // Sixteen streams on two connections that create a watch on the prefix and never read.
        using var slowChannel = server.Channel();
        using var slowChannel2 = server.Channel();
        var slowCalls = new List<AsyncDuplexStreamingCall<WatchRequest, WatchResponse>>();
        var create = new WatchRequest { CreateRequest = new WatchCreateRequest { Key = ByteString.CopyFromUtf8("flood/"), RangeEnd = ByteString.CopyFromUtf8("flood0") } };
        for (var i = 0; i < slowStreams; i++)
        {
            var call = new Watch.WatchClient(i % 2 == 0 ? slowChannel : slowChannel2).Watch();
            await call.RequestStream.WriteAsync(create);
            slowCalls.Add(call);
        }
        // A stream that reads everything.
        using var readerChannel = server.Channel();
        using var reader = new Watch.WatchClient(readerChannel).Watch();
        await reader.RequestStream.WriteAsync(create);
        using var readTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        Assert.True(await reader.ResponseStream.MoveNext(readTimeout.Token));
        Assert.True(reader.ResponseStream.Current.Created);
        await Wait.UntilAsync("every watcher registered", TimeSpan.FromSeconds(20), async () => await server.MetricAsync("etcd_debugging_mvcc_watcher_total") >= slowStreams + 1);
        var revisions = new List<long>();
        var reading = Task.Run(async () =>
        {
            while (revisions.Count < puts && await reader.ResponseStream.MoveNext(readTimeout.Token))
                revisions.AddRange(reader.ResponseStream.Current.Events.Select(e => e.Kv.ModRevision));
        });

        using var putChannel = server.Channel();
        var kv = new KV.KVClient(putChannel);
        var value = ByteString.CopyFrom(new byte[valueSize]);
        var next = -1;
        var sw = Stopwatch.StartNew();
        var writing = Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < puts)
                await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"flood/{i:D5}"), Value = value });
        })));
        // A normal client during the flood: a put and a get on its own connection.
        var normal = Stopwatch.StartNew();
        await server.NormalClientServesAsync("during the flood");
        var normalMs = normal.Elapsed.TotalMilliseconds;
        await writing;
        var writeSeconds = sw.Elapsed.TotalSeconds;
        await reading.WaitAsync(TimeSpan.FromSeconds(120));
        var slow = await server.MetricAsync("etcd_debugging_mvcc_slow_watcher_total");
        var pending = await server.MetricAsync("etcd_debugging_mvcc_pending_events_total");
        var rssAfter = RssKb(pid);
        var unread = (long)slowStreams * puts * valueSize / (1024 * 1024);
        output.WriteLine($"{puts} puts of {valueSize / 1024} KiB by {writers} writers in {writeSeconds:F1} s; a put and a get of a normal client meanwhile {normalMs:F0} ms");
        output.WriteLine($"{slowStreams} streams never read ({unread} MiB of events): slow watchers {slow}, pending events {pending}; server RSS {rssBefore / 1024} MiB before, {rssAfter / 1024} MiB after");
        // The reader got every event once, in revision order (the normal client's put has a revision between them).
        Assert.Equal(puts, revisions.Count);
        Assert.Equal(revisions.Order(), revisions);
        Assert.Equal(puts, revisions.Distinct().Count());
        // The slow watchers left the apply path (etcd's victims: their events are dropped from memory and
        // read again from history when their clients read); each stream holds at most its 128 responses.
        Assert.True(slow >= slowStreams, $"{slow} slow watchers");
        Assert.True(pending <= (slowStreams + 1) * 128, $"{pending} events pending");
        // Generous (2 shared cores; GC): buffering what the slow streams left unread would take more.
        Assert.True(rssAfter - rssBefore < unread * 1024 / 2, $"server RSS grew {(rssAfter - rssBefore) / 1024} MiB with {unread} MiB unread");

        // One slow stream starts reading: every event is there, from history.
        var late = slowCalls[0].ResponseStream;
        var caught = new List<long>();
        using var lateTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        while (caught.Count < puts && await late.MoveNext(lateTimeout.Token))
            caught.AddRange(late.Current.Events.Select(e => e.Kv.ModRevision));
        Assert.Equal(revisions, caught);
        slowCalls.ForEach(c => c.Dispose());
        await server.NormalClientServesAsync("after the flood");
    }

    private static async Task<string> ReadAllAsync(NetworkStream s)
    {
        var all = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            int n;
            while ((n = await s.ReadAsync(buffer)) > 0) all.Write(buffer, 0, n);
        }
        catch (IOException)
        {
        }
        return Encoding.ASCII.GetString(all.ToArray());
    }
}
