using System.CommandLine;
using System.Net.Http;
using System.Text;
using Raft.Cli;
using Raft.Shell.Tests.Node;

namespace Raft.Shell.Tests.Cli;

public class ServeCommandTests
{
    private static (int Exit, string Output, string Error) Run(params string[] args)
    {
        var root = new RootCommand { ServeCommand.Create(), LocalClusterCommand.Create() };
        using var o = new StringWriter();
        using var e = new StringWriter();
        var exit = root.Parse(args).Invoke(new InvocationConfiguration { Output = o, Error = e });
        return (exit, o.ToString(), e.ToString());
    }

    private static Raft.Shell.Node.RaftNodeOptions? Parse(params string[] args)
    {
        var command = ServeCommand.Create();
        var (options, errors) = ServeCommand.Options(command.Parse(args));
        Assert.True(options is not null, string.Join("; ", errors));
        return options;
    }

    [Fact]
    public void NoFlagsGiveEtcdsDefaultsOnLoopback()
    {
        var o = Parse()!;
        Assert.Equal("default", o.Name);
        Assert.Equal("default.raft", o.EffectiveDataDir);
        Assert.Equal("http://127.0.0.1:2379", o.ListenClientUrls);
        Assert.Equal("http://127.0.0.1:2380", o.ListenPeerUrls);
        Assert.Equal("default=http://127.0.0.1:2380", o.EffectiveInitialCluster);
        Assert.Equal("new", o.InitialClusterState);
        Assert.Equal("etcd-cluster", o.InitialClusterToken);
        Assert.Equal(10_000UL, o.SnapshotCount);
        Assert.Equal(5_000UL, o.SnapshotCatchUpEntries);
        Assert.Equal(100, o.HeartbeatIntervalMs);
        Assert.Equal(1000, o.ElectionTimeoutMs);
        Assert.True(o.PreVote);
        Assert.True(o.StrictReconfigCheck);
        Assert.False(o.ForceNewCluster);
    }

    [Fact]
    public void BooleanFlagsTakeAnOptionalValueAsEtcdsDo()
    {
        var o = Parse("--pre-vote=false", "--strict-reconfig-check", "false", "--unsafe-no-fsync")!;
        Assert.False(o.PreVote);
        Assert.False(o.StrictReconfigCheck);
        Assert.True(o.UnsafeNoFsync);
    }

    [Fact]
    public void FlagsMapToOptionsWithEtcdsNames()
    {
        var o = Parse("--name", "infra1", "--data-dir", "/tmp/x", "--listen-client-urls", "http://127.0.0.1:1", "--advertise-client-urls", "http://127.0.0.1:1",
            "--listen-peer-urls", "http://127.0.0.1:2", "--initial-advertise-peer-urls", "http://127.0.0.1:2",
            "--initial-cluster", "infra1=http://127.0.0.1:2,infra2=http://127.0.0.1:3", "--initial-cluster-state", "existing",
            "--initial-cluster-token", "tok", "--force-new-cluster", "--snapshot-count=5", "--experimental-snapshot-catchup-entries", "3", "--heartbeat-interval", "50", "--election-timeout", "500")!;
        Assert.Equal("infra1", o.Name);
        Assert.Equal("/tmp/x", o.EffectiveDataDir);
        Assert.Equal("infra1=http://127.0.0.1:2,infra2=http://127.0.0.1:3", o.EffectiveInitialCluster);
        Assert.Equal("existing", o.InitialClusterState);
        Assert.Equal("tok", o.InitialClusterToken);
        Assert.True(o.ForceNewCluster);
        Assert.Equal(5UL, o.SnapshotCount);
        Assert.Equal(3UL, o.SnapshotCatchUpEntries);
        Assert.Equal(50, o.HeartbeatIntervalMs);
        Assert.Equal(500, o.ElectionTimeoutMs);
    }

    [Theory]
    [InlineData("--listen-client-urls http://127.0.0.1:7", "--advertise-client-urls is required when --listen-client-urls is set explicitly")]
    [InlineData("--initial-cluster-state maybe", "--initial-cluster-state must be")]
    [InlineData("--heartbeat-interval 300", "should be at least as 5 times as --heartbeat-interval")]
    [InlineData("--initial-cluster other=http://127.0.0.1:2380", "no member named \"default\"")]
    [InlineData("--listen-peer-urls localhost:2380", "--listen-peer-urls")]
    [InlineData("--auth-token jwt,sign-method=RS256", "--auth-token jwt,sign-method=RS256: auth: missing key data")]
    [InlineData("--auth-token jwt,priv-key=/nonexistent/key.pem,sign-method=RS256", "auth: cannot read priv-key /nonexistent/key.pem")]
    [InlineData("--auth-token bogus", "--auth-token bogus: auth: invalid auth options")]
    [InlineData("--bcrypt-cost 3", "--bcrypt-cost 3: must be 4 to 31")]
    [InlineData("--auth-token-ttl 0", "--auth-token-ttl 0: must be positive")]
    public void BadFlagsExitNonZeroWithAClearMessage(string args, string expected)
    {
        var (exit, _, error) = Run(["serve", .. args.Split(' ')]);
        Assert.NotEqual(0, exit);
        Assert.Contains(expected, error);
        // The command names its flags, not the configuration keys a library host sets.
        Assert.DoesNotContain("Raft:", error);
    }

    [Fact]
    public void AuthFlagsSetTheKvServiceOptions()
    {
        var (configure, errors) = ServeCommand.KvOptions(ServeCommand.Create().Parse(["--bcrypt-cost", "5", "--auth-token-ttl", "60"]));
        Assert.True(configure is not null, string.Join("; ", errors));
        var kv = new Raft.Kv.KvServiceOptions();
        configure(kv);
        Assert.Equal(5, kv.BcryptCost);
        Assert.Equal(TimeSpan.FromSeconds(60), kv.AuthTokenTtl);
        Assert.Equal("simple", kv.AuthToken);
        var (defaults, _) = ServeCommand.KvOptions(ServeCommand.Create().Parse([]));
        var d = new Raft.Kv.KvServiceOptions { BcryptCost = 0 };
        defaults!(d);
        Assert.Equal(10, d.BcryptCost);
    }

    [Fact]
    public async Task StartErrorsNameTheFlagsAndThePath()
    {
        using var dir = new TempDir();
        string[] urls(int client, int peer) =>
        [
            "--listen-client-urls", $"http://127.0.0.1:{client}", "--advertise-client-urls", $"http://127.0.0.1:{client}",
            "--listen-peer-urls", $"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{peer}",
        ];
        var joining = Parse(["--name", "j1", "--data-dir", dir.Sub("j1"), "--initial-cluster-state", "existing", .. urls(NodeCluster.FreePort(), NodeCluster.FreePort())])!;
        var error = new StringWriter();
        Assert.Equal(1, await ServeCommand.RunMemberAsync(joining, Microsoft.Extensions.Logging.LogLevel.Error, null, TextWriter.Null, CancellationToken.None, error));
        Assert.Contains("--initial-cluster-state existing needs the other members in --initial-cluster", error.ToString());
        Assert.DoesNotContain("Raft:", error.ToString());

        var file = dir.Sub("file");
        File.WriteAllText(file, "");
        var blocked = Parse(["--data-dir", file, .. urls(NodeCluster.FreePort(), NodeCluster.FreePort())])!;
        error = new StringWriter();
        Assert.Equal(1, await ServeCommand.RunMemberAsync(blocked, Microsoft.Extensions.Logging.LogLevel.Error, null, TextWriter.Null, CancellationToken.None, error));
        Assert.Contains($"raft serve: cannot create data directory {file}: a file is in the way", error.ToString());
    }

    [Fact]
    public void EveryOptionWithAFlagIsNamedByItsFlag()
    {
        var flags = ServeCommand.Create().Options.Select(o => o.Name).ToHashSet();
        // Set only by a library host or the environment: no flag.
        string[] noFlag = [nameof(Raft.Shell.Node.RaftNodeOptions.HealthIntervalMs), nameof(Raft.Shell.Node.RaftNodeOptions.Failpoints)];
        foreach (var p in typeof(Raft.Shell.Node.RaftNodeOptions).GetProperties().Where(p => p.CanWrite))
        {
            if (p.PropertyType == typeof(Raft.Shell.Transport.Tls.TlsOptions))
            {
                // A group of flags: each setting but the certificate objects (and allowed names, peers only) has one.
                string[] objects = ["Certificate", "TrustedCertificates", .. p.Name == "ClientTls" ? new[] { "AllowedCn", "AllowedHostname" } : []];
                foreach (var t in typeof(Raft.Shell.Transport.Tls.TlsOptions).GetProperties().Where(t => t.CanWrite))
                {
                    var key = $"{p.Name}:{t.Name}";
                    if (objects.Contains(t.Name)) Assert.Equal($"Raft:{key}", ServeCommand.FlagOf(key));
                    else Assert.Contains(ServeCommand.FlagOf(key), flags);
                }
                continue;
            }
            var name = ServeCommand.FlagOf(p.Name);
            if (noFlag.Contains(p.Name))
                Assert.Equal($"Raft:{p.Name}", name);
            else
                Assert.Contains(name, flags);
        }
    }

    [Fact]
    public void UnknownFlagsAndBadNumbersAreParseErrors()
    {
        var (exit, _, error) = Run("serve", "--no-such-flag");
        Assert.NotEqual(0, exit);
        Assert.Contains("--no-such-flag", error);
        (exit, _, error) = Run("serve", "--snapshot-count", "lots");
        Assert.NotEqual(0, exit);
        Assert.Contains("lots", error);
    }

    [Fact]
    public async Task ServesTheKvApiAndStopsOnCancel()
    {
        using var dir = new TempDir();
        var client = NodeCluster.FreePort();
        var peer = NodeCluster.FreePort();
        var o = Parse("--name", "s1", "--data-dir", dir.Path,
            "--listen-client-urls", $"http://127.0.0.1:{client}", "--advertise-client-urls", $"http://127.0.0.1:{client}",
            "--listen-peer-urls", $"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{peer}",
            "--heartbeat-interval", "10", "--election-timeout", "100")!;
        using var stop = new CancellationTokenSource();
        using var output = new StringWriter();
        var run = ServeCommand.RunMemberAsync(o, Microsoft.Extensions.Logging.LogLevel.Warning, null, output, stop.Token);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{client}") };
        string body = "";
        await SingleNodeTests.WaitUntilAsync(async () =>
        {
            try
            {
                var r = await http.PostAsync("/v3/kv/put", new StringContent("{\"key\":\"Zm9v\",\"value\":\"YmFy\"}", Encoding.UTF8));
                body = await r.Content.ReadAsStringAsync();
                return r.IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        });
        Assert.Contains("\"revision\":\"2\"", body);
        var range = await http.PostAsync("/v3/kv/range", new StringContent("{\"key\":\"Zm9v\"}", Encoding.UTF8));
        Assert.Contains("\"value\":\"YmFy\"", await range.Content.ReadAsStringAsync());
        Assert.Contains("s1: member", output.ToString());
        stop.Cancel();
        Assert.Equal(0, await run);
        // The port is free again and the WAL closed: the member restarts with its data.
        using var stop2 = new CancellationTokenSource();
        var again = ServeCommand.RunMemberAsync(o, Microsoft.Extensions.Logging.LogLevel.Warning, null, TextWriter.Null, stop2.Token);
        await SingleNodeTests.WaitUntilAsync(async () =>
        {
            try
            {
                var r = await http.PostAsync("/v3/kv/range", new StringContent("{\"key\":\"Zm9v\"}", Encoding.UTF8));
                return (await r.Content.ReadAsStringAsync()).Contains("\"value\":\"YmFy\"");
            }
            catch (HttpRequestException)
            {
                return false;
            }
        });
        stop2.Cancel();
        Assert.Equal(0, await again);
    }

    [Fact]
    public void LocalClusterUsesEtcdsProcfilePorts()
    {
        var members = LocalClusterCommand.Members("lc", freePorts: false);
        Assert.Equal(["http://127.0.0.1:2379", "http://127.0.0.1:22379", "http://127.0.0.1:32379"], members.Select(m => m.ListenClientUrls));
        Assert.Equal(["http://127.0.0.1:2380", "http://127.0.0.1:22380", "http://127.0.0.1:32380"], members.Select(m => m.ListenPeerUrls));
        Assert.All(members, m => Assert.Empty(m.Validate()));
        Assert.All(members, m => Assert.Equal(members[0].InitialCluster, m.InitialCluster));
    }
}
