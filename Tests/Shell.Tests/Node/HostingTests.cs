using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Raft.Interop;
using Raft.Shell.Hosting;
using Raft.Shell.Node;

namespace Raft.Shell.Tests.Node;

public class HostingTests
{
    private static IHost BuildHost(Dictionary<string, string?> settings, IStateMachine sm)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddSingleton(sm);
        builder.Services.AddRaftNode();
        return builder.Build();
    }

    [Fact]
    public async Task AddRaftNodeBindsOptionsRunsTheNodeAndStopsWithTheHost()
    {
        using var dir = new TempDir();
        var sm = new ListStateMachine();
        var host = BuildHost(new()
        {
            ["Raft:Name"] = "h1",
            ["Raft:DataDir"] = dir.Path,
            ["Raft:HeartbeatIntervalMs"] = "10",
            ["Raft:ElectionTimeoutMs"] = "100",
            ["Raft:InitialAdvertisePeerUrls"] = "http://127.0.0.1:12380",
            ["Raft:ListenPeerUrls"] = "http://127.0.0.1:0",
        }, sm);
        await host.StartAsync();
        var node = host.Services.GetRequiredService<IRaftNode>();
        Assert.Equal(1, await node.ProposeAsync(Encoding.UTF8.GetBytes("a")));
        var options = host.Services.GetRequiredService<RaftNode>().Options;
        Assert.Equal("h1", options.Name);
        Assert.Equal("http://127.0.0.1:12380", options.InitialAdvertisePeerUrls);
        await host.StopAsync();
        var ex = await Assert.ThrowsAsync<RaftException>(() => node.ProposeAsync(Encoding.UTF8.GetBytes("b")));
        Assert.Equal(RaftErrorCode.Stopped, ex.Code);
        host.Dispose();
        // The WAL is closed: another member can open the data directory.
        await using var again = await RaftNode.StartAsync(new RaftNodeOptions
        {
            Name = "h1", DataDir = dir.Path, HeartbeatIntervalMs = 10, ElectionTimeoutMs = 100,
            InitialAdvertisePeerUrls = "http://127.0.0.1:12380", ListenPeerUrls = "http://127.0.0.1:0",
        }, new ListStateMachine());
        await again.ReadIndexAsync();
    }

    [Fact]
    public async Task InvalidOptionsStopTheHostWithEveryProblemListed()
    {
        using var dir = new TempDir();
        var host = BuildHost(new()
        {
            ["Raft:DataDir"] = dir.Path,
            ["Raft:HeartbeatIntervalMs"] = "100",
            ["Raft:ElectionTimeoutMs"] = "200",
            ["Raft:InitialClusterState"] = "maybe",
            ["Raft:ListenPeerUrls"] = "ftp://x:1",
        }, new ListStateMachine());
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(ex.Failures, f => f.Contains("Raft:InitialClusterState"));
        Assert.Contains(ex.Failures, f => f.Contains("Raft:ElectionTimeoutMs[200ms] should be at least as 5 times as Raft:HeartbeatIntervalMs[100ms]"));
        Assert.Contains(ex.Failures, f => f.Contains("Raft:ListenPeerUrls"));
        host.Dispose();
    }

    [Theory]
    [InlineData("Name", "", "Raft:Name")]
    [InlineData("InitialCluster", "other=http://127.0.0.1:2380", "no member named \"default\"")]
    [InlineData("InitialCluster", "default=http://127.0.0.1:9999", "missing from Raft:InitialAdvertisePeerUrls")]
    [InlineData("SnapshotCount", "0", "Raft:SnapshotCount")]
    [InlineData("ElectionTimeoutMs", "60000", "too long")]
    [InlineData("Failpoints", "raftNowhere=panic", "unknown failpoint")]
    public void OptionsValidationNamesTheConfigurationKey(string property, string value, string expected)
    {
        var o = new RaftNodeOptions();
        var p = typeof(RaftNodeOptions).GetProperty(property)!;
        p.SetValue(o, p.PropertyType == typeof(string) ? value : Convert.ChangeType(value, p.PropertyType, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains(o.Validate(), e => e.Contains(expected));
        Assert.Empty(new RaftNodeOptions().Validate());
    }
}
