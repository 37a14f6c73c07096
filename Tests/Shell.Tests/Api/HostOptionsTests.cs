using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Raft.Interop;
using Raft.Shell.Hosting;
using Raft.Shell.Node;
using Raft.Shell.Tests.Node;

namespace Raft.Shell.Tests.Api;

public class HostOptionsTests
{
    [Fact]
    public void ALibraryHostHasNoClientUrlsByDefaultAndThatIsValid()
    {
        var o = new RaftNodeOptions();
        Assert.Equal("", o.ListenClientUrls);
        Assert.Equal("", o.AdvertiseClientUrls);
        Assert.Empty(o.Validate());
        // Given ones are still checked.
        o.AdvertiseClientUrls = "localhost:2379";
        Assert.Contains(o.Validate(), e => e.StartsWith("Raft:AdvertiseClientUrls", StringComparison.Ordinal));
    }

    [Fact]
    public void ValidationCanNameOptionsAnotherWay()
    {
        var o = new RaftNodeOptions { Name = "", SnapshotCount = 0 };
        var errors = o.Validate(p => $"<{p}>");
        Assert.Contains(errors, e => e.StartsWith("<Name> must not be empty", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("<SnapshotCount> must be positive", StringComparison.Ordinal));
        Assert.DoesNotContain(errors, e => e.Contains("Raft:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AHostedMemberThatServesNoClientsPublishesNoClientUrl()
    {
        using var dir = new TempDir();
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Raft:Name"] = "quiet",
            ["Raft:DataDir"] = dir.Path,
            ["Raft:HeartbeatIntervalMs"] = "10",
            ["Raft:ElectionTimeoutMs"] = "100",
            ["Raft:ListenPeerUrls"] = "http://127.0.0.1:0",
        });
        builder.Services.AddSingleton<IStateMachine>(new ListStateMachine());
        builder.Services.AddRaftNode();
        using var host = builder.Build();
        await host.StartAsync();
        var node = host.Services.GetRequiredService<IRaftNode>();
        await node.ProposeAsync(Encoding.UTF8.GetBytes("x"));
        // The member publishes its attributes (name and client URLs) through the log after it starts.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (node.Members.Single().Name != "quiet" && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        var self = node.Members.Single();
        Assert.Equal("quiet", self.Name);
        Assert.Empty(self.ClientUrls);
        await host.StopAsync();
    }
}
