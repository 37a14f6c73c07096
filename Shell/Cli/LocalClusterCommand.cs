using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Raft.Shell.Node;

namespace Raft.Cli;

/// <summary>
/// <c>raft local-cluster</c>: three members on loopback in this process, like etcd's Procfile
/// (clients on 2379, 22379, 32379; peers on 2380, 22380, 32380), or on free ports with
/// <c>--free-ports</c>. Prints the endpoints and runs until Ctrl-C.
/// </summary>
public static class LocalClusterCommand
{
    /// <summary>The <c>local-cluster</c> command.</summary>
    public static Command Create()
    {
        var dataDir = new Option<string>("--data-dir") { Description = "Directory holding the members' data directories.", DefaultValueFactory = _ => "local-cluster.raft" };
        var freePorts = new Option<bool>("--free-ports") { Description = "Pick free ports instead of etcd's Procfile ports." };
        var logLevel = ServeCommand.LogLevelFlag();
        logLevel.DefaultValueFactory = _ => "warn";
        var command = new Command("local-cluster", "Run a three-member cluster on loopback (like etcd's Procfile) until Ctrl-C.")
        {
            dataDir, freePorts, logLevel,
        };
        command.SetAction((r, ct) => RunAsync(r.GetValue(dataDir)!, r.GetValue(freePorts), ServeCommand.Level(r.GetValue(logLevel)!), r.InvocationConfiguration.Output, ct));
        return command;
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>The three members' options.</summary>
    public static IReadOnlyList<RaftNodeOptions> Members(string dataDir, bool freePorts)
    {
        var ports = freePorts
            ? Enumerable.Range(0, 3).Select(_ => (FreePort(), FreePort())).ToArray()
            : [(2379, 2380), (22379, 22380), (32379, 32380)];
        var names = new[] { "infra1", "infra2", "infra3" };
        var cluster = string.Join(",", names.Select((n, i) => $"{n}=http://127.0.0.1:{ports[i].Item2}"));
        return names.Select((n, i) => new RaftNodeOptions
        {
            Name = n,
            DataDir = Path.Combine(dataDir, $"{n}.raft"),
            ListenClientUrls = $"http://127.0.0.1:{ports[i].Item1}",
            AdvertiseClientUrls = $"http://127.0.0.1:{ports[i].Item1}",
            ListenPeerUrls = $"http://127.0.0.1:{ports[i].Item2}",
            InitialAdvertisePeerUrls = $"http://127.0.0.1:{ports[i].Item2}",
            InitialCluster = cluster,
            InitialClusterToken = "etcd-cluster-1",
        }).ToArray();
    }

    private static async Task<int> RunAsync(string dataDir, bool freePorts, Microsoft.Extensions.Logging.LogLevel level, TextWriter output, CancellationToken ct)
    {
        var members = Members(dataDir, freePorts);
        output.WriteLine($"local cluster of {members.Count} members, data under {Path.GetFullPath(dataDir)}; Ctrl-C stops it");
        // All members stop together: when one fails, the others are stopped too.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var runs = members.Select(o => Task.Run(async () =>
        {
            var code = await ServeCommand.RunMemberAsync(o, level, o.Name, output, stop.Token).ConfigureAwait(false);
            if (code != 0)
                await stop.CancelAsync().ConfigureAwait(false);
            return code;
        })).ToArray();
        var codes = await Task.WhenAll(runs).ConfigureAwait(false);
        output.WriteLine("local cluster stopped");
        return codes.Max();
    }
}
