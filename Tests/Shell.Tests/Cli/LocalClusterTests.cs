using System.CommandLine;
using System.Text;
using System.Text.Json;
using Raft.Cli;
using Raft.Shell.Node;
using Raft.Shell.Tests.Storage;

namespace Raft.Shell.Tests.Cli;

public class LocalClusterPortsTests
{
    [Fact]
    public void FreePortsAreRecordedAndReusedWhenTheClusterIsRunAgain()
    {
        using var dir = new TempDir();
        var (first, note, error) = LocalClusterCommand.ChoosePorts(dir.Path, freePorts: true);
        Assert.Null(error);
        Assert.Null(note);
        LocalClusterCommand.RecordPorts(dir.Path, first!);
        foreach (var free in new[] { true, false })
        {
            var (again, againNote, againError) = LocalClusterCommand.ChoosePorts(dir.Path, free);
            Assert.Null(againError);
            Assert.Equal(first, again);
            Assert.Contains("reusing the ports", againNote);
        }
    }

    [Fact]
    public void MembersStoredWithoutARecordRunOnlyOnTheProcfilePorts()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(Path.Combine(dir.Path, "infra2.raft"));
        var (ports, _, error) = LocalClusterCommand.ChoosePorts(dir.Path, freePorts: true);
        Assert.Null(ports);
        Assert.Contains("--free-ports", error);
        Assert.Contains("Procfile", error);
        (ports, _, error) = LocalClusterCommand.ChoosePorts(dir.Path, freePorts: false);
        Assert.Null(error);
        Assert.Equal([2380, 22380, 32380], ports!.Select(p => p.Peer));
    }

    [Fact]
    public void AnUnreadableRecordIsAnErrorThatSaysWhatToDo()
    {
        using var dir = new TempDir();
        File.WriteAllText(LocalClusterCommand.PortsFile(dir.Path), "not json");
        var (ports, _, error) = LocalClusterCommand.ChoosePorts(dir.Path, freePorts: true);
        Assert.Null(ports);
        Assert.Contains("remove", error);
    }
}

/// <summary>The whole command, run twice on one data directory with --free-ports.</summary>
[Collection(ProcessCollection.Name)]
public class LocalClusterRerunTests
{
    [Fact]
    public async Task ALocalClusterOnFreePortsElectsALeaderAgainWhenRunAgainOnItsData()
    {
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "lc");
        for (var run = 1; run <= 2; run++)
        {
            using var stop = new CancellationTokenSource();
            var output = new StringWriter();
            var error = new StringWriter();
            var root = new RootCommand { LocalClusterCommand.Create() };
            var running = root.Parse(["local-cluster", "--data-dir", data, "--free-ports", "--log-level", "error"])
                .InvokeAsync(new InvocationConfiguration { Output = TextWriter.Synchronized(output), Error = TextWriter.Synchronized(error) }, stop.Token);
            try
            {
                await Node.SingleNodeTests.WaitUntilAsync(() => Task.FromResult(File.Exists(LocalClusterCommand.PortsFile(data)) || running.IsCompleted));
                Assert.False(running.IsCompleted, $"run {run} ended: {error}");
                var ports = JsonSerializer.Deserialize<LocalClusterCommand.MemberPorts[]>(File.ReadAllText(LocalClusterCommand.PortsFile(data)))!;
                // A put through each member succeeds only once the cluster has a leader.
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
                foreach (var p in ports)
                {
                    await Node.SingleNodeTests.WaitUntilAsync(async () =>
                    {
                        try
                        {
                            var r = await http.PostAsync($"http://127.0.0.1:{p.Client}/v3/kv/put", new StringContent($"{{\"key\":\"{Convert.ToBase64String(Encoding.UTF8.GetBytes(p.Name))}\",\"value\":\"eA==\"}}"));
                            return r.IsSuccessStatusCode;
                        }
                        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                        {
                            return false;
                        }
                    }, 30_000);
                }
                if (run == 2)
                    Assert.Contains("reusing the ports", output.ToString());
            }
            finally
            {
                stop.Cancel();
                await running.WaitAsync(TimeSpan.FromSeconds(30));
            }
        }
    }
}

public class DataDirErrorTests
{
    private static async Task<string> StartError(string dataDir)
    {
        var ex = await Assert.ThrowsAsync<NodeStartException>(() => RaftNode.StartAsync(new RaftNodeOptions
        {
            Name = "d", DataDir = dataDir, ListenPeerUrls = "http://127.0.0.1:0", InitialAdvertisePeerUrls = "http://127.0.0.1:12381",
        }, new Node.ListStateMachine()));
        Assert.DoesNotContain("Could not find", ex.Message);
        Assert.DoesNotContain("already exists", ex.Message);
        return ex.Message;
    }

    [Fact]
    public async Task AFileWhereTheDataDirectoryShouldBeIsNamed()
    {
        using var dir = new TempDir();
        var file = dir.Sub("taken");
        File.WriteAllText(file, "");
        Assert.Contains($"{file}: a file is in the way", await StartError(file));
    }

    [Fact]
    public async Task AFileAmongTheParentsIsNamed()
    {
        using var dir = new TempDir();
        var file = dir.Sub("plain");
        File.WriteAllText(file, "");
        Assert.Contains($"{file} is a file, not a directory", await StartError(Path.Combine(file, "member", "data")));
    }

    [Fact]
    public async Task ADanglingLinkIsNamed()
    {
        using var dir = new TempDir();
        var link = dir.Sub("link");
        File.CreateSymbolicLink(link, dir.Sub("gone"));
        Assert.Contains("symbolic link", await StartError(link));
    }

    [Fact]
    public void NoPermissionNamesTheDirectoryThatRefused()
    {
        // Tests may run as root, which any directory lets in: the message is checked on its own.
        using var dir = new TempDir();
        var message = RaftNodeOptions.DescribeDataDirError(Path.Combine(dir.Path, "a", "b"), new UnauthorizedAccessException("denied"));
        Assert.Equal($"cannot create data directory {Path.Combine(dir.Path, "a", "b")}: no permission to write in {dir.Path}", message);
    }
}
