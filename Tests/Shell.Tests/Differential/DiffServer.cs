using System.Net;
using System.Net.Sockets;
using Etcdserverpb;
using Grpc.Net.Client;
using Raft.Shell.Tests.Compat;
using Raft.Shell.Tests.EndToEnd;

namespace Raft.Shell.Tests.Differential;

/// <summary>
/// One single-member server of the differential test, etcd 3.4 or <c>raft serve</c>, on its own
/// loopback address (127.0.20.<i>n</i>: the range these tests own) with free ports there and a
/// fresh data directory; both get the same etcd flags and timing. Disposing it kills the process.
/// </summary>
internal sealed class DiffServer : IDisposable
{
    /// <summary>The first three octets of the addresses the differential tests use.</summary>
    public const string Network = "127.0.20";

    private readonly RaftProcess _process;
    private readonly GrpcChannel _channel;

    private DiffServer(string name, RaftProcess process, string clientUrl)
    {
        Name = name;
        _process = process;
        ClientUrl = clientUrl;
        // As etcd's clientv3: no receive limit.
        _channel = GrpcChannel.ForAddress(clientUrl, new GrpcChannelOptions { MaxReceiveMessageSize = null });
        Kv = new KV.KVClient(_channel);
        Lease = new Lease.LeaseClient(_channel);
        Watch = new Watch.WatchClient(_channel);
        _http = new HttpClient { BaseAddress = new Uri(clientUrl), Timeout = TimeSpan.FromSeconds(10) };
    }

    private readonly HttpClient _http;

    /// <summary>Posts <paramref name="json"/> to the JSON gateway's <paramref name="path"/> (HTTP/1.1 on the client port).</summary>
    public async Task<Outcome> PostAsync(string label, string path, string json)
    {
        using var r = await _http.PostAsync(path, new StringContent(json));
        return Outcome.Gateway(label, (int)r.StatusCode, await r.Content.ReadAsStringAsync());
    }

    /// <summary><c>etcd</c> or <c>raft</c>.</summary>
    public string Name { get; }

    public string ClientUrl { get; }

    public KV.KVClient Kv { get; }

    public Lease.LeaseClient Lease { get; }

    public Watch.WatchClient Watch { get; }

    public string Output => _process.Output;

    /// <summary>Starts etcd (from PATH) or <c>raft serve</c> on 127.0.20.<paramref name="host"/> and waits until a read succeeds.</summary>
    public static async Task<DiffServer> StartAsync(bool etcd, int host, string dataDir)
    {
        var address = $"{Network}.{host}";
        var client = $"http://{address}:{FreePort(address)}";
        var peer = $"http://{address}:{FreePort(address)}";
        string[] flags =
        [
            "--name", "diff", "--data-dir", dataDir,
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", $"diff={peer}", "--initial-cluster-token", "diff",
            // Our defaults (etcd 3.5's), given to both: the minimum lease TTL follows from them.
            "--heartbeat-interval", "100", "--election-timeout", "1000",
        ];
        RaftProcess process;
        if (etcd)
        {
            Assert.True(EtcdBinary.Path is not null, "etcd is not on PATH (CI installs Debian's etcd-server)");
            process = RaftProcess.StartProgram(EtcdBinary.Path!, [.. flags, "--logger", "zap", "--log-outputs", "stderr"]);
        }
        else
            process = RaftProcess.Start(["serve", .. flags]);
        var server = new DiffServer(etcd ? "etcd" : "raft", process, client);
        try
        {
            await server.WaitReadyAsync(TimeSpan.FromSeconds(60));
        }
        catch
        {
            server.Dispose();
            throw;
        }
        return server;
    }

    private async Task WaitReadyAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            Assert.False(_process.HasExited, $"{Name} exited:\n{Output}");
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await Kv.RangeAsync(new RangeRequest { Key = Google.Protobuf.ByteString.CopyFromUtf8("ready") }, cancellationToken: cts.Token);
                return;
            }
            catch (Exception e) when (e is global::Grpc.Core.RpcException or OperationCanceledException)
            {
                Assert.True(DateTime.UtcNow < deadline, $"{Name} did not answer a range within {timeout.TotalSeconds} s ({e.Message}):\n{Output}");
                await Task.Delay(100);
            }
        }
    }

    private static int FreePort(string address) => FreePorts.On(address);

    public void Dispose()
    {
        _channel.Dispose();
        _http.Dispose();
        _process.Dispose();
    }
}
