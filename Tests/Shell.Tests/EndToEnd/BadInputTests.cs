using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Raft.Shell.Tests.Storage;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.EndToEnd;

/// <summary>
/// Bad input on both ports of running members: the client port answers etcd's errors and writes
/// nothing; the peer port refuses garbage, strangers and other clusters with a logged reason; and
/// the members keep serving throughout. Last, a member that lost its quorum answers "no leader".
/// </summary>
[Collection(ProcessCollection.Name)]
public class BadInputTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    private static string Err(string message, int code) => $"{{\"error\":\"{message}\",\"code\":{code},\"message\":\"{message}\"}}";

    [Fact]
    public async Task BothPortsRefuseBadInputWithLoggedReasonsAndTheMembersKeepServing()
    {
        using var cluster = new ProcessCluster(3);
        await cluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync(5 * ProcessCluster.ElectionTimeout);
        var follower = cluster.Members.First(m => m != leader);
        await ProcessCluster.PutEventuallyAsync(follower, "good", "1", Generous);
        var revision = (await follower.Client.StatusAsync())!.Revision;

        // Client port: etcd's errors, with etcd's HTTP statuses and gRPC codes.
        var c = follower.Client;
        var tooLarge = $"{{\"key\":\"YQ==\",\"value\":\"{Convert.ToBase64String(new byte[1536 * 1024])}\"}}";
        var farTooLarge = $"{{\"key\":\"YQ==\",\"value\":\"{Convert.ToBase64String(new byte[3 * 1024 * 1024])}\"}}";
        (string Path, string Body, int Status, string Answer)[] bad =
        [
            ("/v3/kv/put", "{key:1}", 400, Err("invalid character 'k' looking for beginning of object key string", 3)),
            ("/v3/kv/put", "{\"key\":\"YQ==\",\"value\":\"YmFy\"", 400, Err("unexpected EOF", 3)),
            ("/v3/kv/put", "{\"key\":\"Y\",\"value\":\"YmFy\"}", 400, Err("illegal base64 data at input byte 0", 3)),
            ("/v3/kv/range", "{\"key\":\"YW Jj\"}", 400, Err("illegal base64 data at input byte 2", 3)),
            ("/v3/kv/put", "{\"value\":\"YmFy\"}", 400, Err("etcdserver: key is not provided", 3)),
            ("/v3/kv/deleterange", "{}", 400, Err("etcdserver: key is not provided", 3)),
            ("/v3/kv/put", tooLarge, 400, Err("etcdserver: request is too large", 3)),
            ("/v3/cluster/member/remove", "{\"ID\":\"12345\"}", 404, Err("etcdserver: member not found", 5)),
        ];
        foreach (var (path, body, status, answer) in bad)
        {
            var r = await c.PostAsync(path, body);
            Assert.True(r is not null, $"{path} {body[..Math.Min(body.Length, 40)]}: no answer");
            Assert.Equal((status, answer), (r.Status, r.Body));
        }
        var huge = await c.PostAsync("/v3/kv/put", farTooLarge);
        Assert.Equal(429, huge?.Status);
        Assert.StartsWith("{\"error\":\"grpc: received message larger than max (", huge!.Body);
        Assert.Equal(revision, (await c.StatusAsync())!.Revision);

        // Peer port, garbage: closed without an answer, and logged.
        var peer = follower.PeerPort;
        var garbage = new byte[4096];
        new Random(7).NextBytes(garbage);
        garbage[0] = (byte)'G';
        Assert.Empty(await ExchangeAsync(peer, garbage));
        await ExpectLogAsync(follower, "rejected peer connection: not a raft peer", "bad magic");

        // A hello of this cluster from a member id nobody knows: refused (etcd's "error sender not
        // found"), logged, closed.
        var unknown = await ExchangeAsync(peer, Hello(follower.ClusterId, from: 0x1234, to: follower.Id));
        Assert.Equal(24, unknown.Length);
        Assert.Equal(4, unknown[6]);
        await ExpectLogAsync(follower, "failed to find remote peer in cluster", "remote-peer-id-from=1234");

        // A hello that claims to be the leader, then a frame longer than any allowed: the connection
        // is accepted, then closed for the frame; the real leader's stream is not disturbed.
        var forged = await ExchangeAsync(peer, [.. Hello(follower.ClusterId, from: leader.Id, to: follower.Id), 0x7f, 0xff, 0xff, 0xff]);
        Assert.Equal(0, forged[6]);
        await ExpectLogAsync(follower, "closed peer connection", "exceeds the limit");

        // A member of another cluster dials this one: its initial cluster names a peer at the
        // follower's peer URL. The follower refuses the cluster id and logs it; so does the stranger.
        using var otherDir = new TempDir();
        using var stranger = new Member("x1", otherDir.Sub("x1"), "another-cluster");
        stranger.InitialCluster = $"x1={stranger.PeerUrl},x2={follower.PeerUrl}";
        await stranger.StartAsync();
        await ExpectLogAsync(follower, "request cluster ID mismatch", $"remote-peer-id={stranger.Id:x}");
        await ExpectLogAsync(stranger, "request sent was ignored by remote peer due to cluster ID mismatch", $"local-member-id={stranger.Id:x}");
        stranger.Kill();

        // Through all of it, every member kept serving.
        Assert.All(cluster.Members, m => Assert.True(m.IsRunning, $"{m.Name} exited:\n{m.Output}"));
        foreach (var m in cluster.Members)
            await ProcessCluster.PutEventuallyAsync(m, $"after/{m.Name}", "ok", Generous);
        foreach (var m in cluster.Members)
            Assert.Equal(200, (await m.Client.GetAsync("/health"))?.Status);

        // Two members killed: the last one loses its leader (or, leading, steps down for want of a
        // quorum) and answers a write, after the request timeout, with etcd's "no leader".
        foreach (var m in cluster.Members.Where(m => m != leader))
            m.Kill();
        await Wait.UntilAsync("the survivor to lose its leader", Generous, async () => await leader.Client.StatusAsync() is { Leader: 0 });
        var started = DateTime.UtcNow;
        var put = await leader.Client.PutAsync("lost", "x");
        output.WriteLine($"no leader answered after {(DateTime.UtcNow - started).TotalSeconds:0.0} s");
        Assert.Equal((503, Err("etcdserver: no leader", 14)), (put?.Status, put?.Body));
        var health = await leader.Client.GetAsync("/health");
        Assert.Equal((503, "{\"health\":\"false\",\"reason\":\"RAFT NO LEADER\"}\n"), (health?.Status, health?.Body));
        // Reads that need no quorum still work.
        Assert.Equal("1", await leader.Client.GetValueAsync("good", serializable: true));
    }

    /// <summary>The 32-byte hello a peer opens its connection with (see Shell/Transport/Handshake.cs).</summary>
    private static byte[] Hello(ulong clusterId, ulong from, ulong to)
    {
        var b = new byte[32];
        "RAFT"u8.CopyTo(b);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), 1);
        b[6] = 1; // a message stream
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(8), clusterId);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(16), from);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(24), to);
        return b;
    }

    /// <summary>Sends <paramref name="bytes"/> to the peer port and reads until the member closes the connection.</summary>
    private static async Task<byte[]> ExchangeAsync(int port, byte[] bytes)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        using var stream = new NetworkStream(socket, ownsSocket: false);
        using var timeout = new CancellationTokenSource(Generous);
        var received = new MemoryStream();
        try
        {
            await stream.WriteAsync(bytes, timeout.Token);
            var buffer = new byte[1024];
            int n;
            while ((n = await stream.ReadAsync(buffer, timeout.Token)) > 0)
                received.Write(buffer, 0, n);
        }
        catch (IOException)
        {
            // Reset by the member: closed all the same.
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
        }
        Assert.False(timeout.IsCancellationRequested, "the member did not close the connection");
        return received.ToArray();
    }

    private static Task ExpectLogAsync(Member m, string line, string detail) =>
        Wait.UntilAsync($"{m.Name} to log \"{line}\" with \"{detail}\"", Generous,
            () => Task.FromResult(m.Output.Split('\n').Any(l => l.Contains(line, StringComparison.Ordinal) && l.Contains(detail, StringComparison.Ordinal))),
            () => m.Output);
}
