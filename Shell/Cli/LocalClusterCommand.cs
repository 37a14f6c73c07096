using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Raft.Shell.Node;

namespace Raft.Cli;

/// <summary>
/// <c>raft local-cluster</c>: three members on loopback in this process, like etcd's Procfile
/// (clients on 2379, 22379, 32379; peers on 2380, 22380, 32380), or on free ports with
/// <c>--free-ports</c>. The ports are recorded in the data directory and reused when it is run
/// again. Prints the endpoints and runs until Ctrl-C. All members share this process, so one
/// cannot be killed alone: for that, run one <c>raft serve</c> per member.
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
        command.SetAction((r, ct) => RunAsync(r.GetValue(dataDir)!, r.GetValue(freePorts), ServeCommand.Level(r.GetValue(logLevel)!), r.InvocationConfiguration.Output, r.InvocationConfiguration.Error, ct));
        return command;
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static readonly string[] Names = ["infra1", "infra2", "infra3"];

    /// <summary>A member's ports: clients and peers.</summary>
    public sealed record MemberPorts(string Name, int Client, int Peer);

    /// <summary>
    /// The file in the cluster's data directory that records the ports its members were created
    /// with: their stored membership names those peer URLs, so a restart must use them again.
    /// </summary>
    public static string PortsFile(string dataDir) => Path.Combine(dataDir, "local-cluster.json");

    /// <summary>etcd's Procfile ports, or free ones.</summary>
    public static IReadOnlyList<MemberPorts> NewPorts(bool freePorts)
    {
        (int, int)[] ports = freePorts
            ? [.. Enumerable.Range(0, 3).Select(_ => (FreePort(), FreePort()))]
            : [(2379, 2380), (22379, 22380), (32379, 32380)];
        return Names.Select((n, i) => new MemberPorts(n, ports[i].Item1, ports[i].Item2)).ToArray();
    }

    /// <summary>
    /// The ports to run with: the recorded ones when the data directory has members already (and
    /// a note saying so), new ones when it has none. Members stored without a record (made before
    /// ports were recorded) can only be run on the Procfile ports: with <paramref name="freePorts"/>
    /// that is an error that says why.
    /// </summary>
    public static (IReadOnlyList<MemberPorts>? Ports, string? Note, string? Error) ChoosePorts(string dataDir, bool freePorts)
    {
        var file = PortsFile(dataDir);
        if (File.Exists(file))
        {
            IReadOnlyList<MemberPorts>? recorded;
            try
            {
                recorded = JsonSerializer.Deserialize<MemberPorts[]>(File.ReadAllText(file));
            }
            catch (JsonException ex)
            {
                return (null, null, $"{file} is not a ports record ({ex.Message}); remove {dataDir} to start a new cluster");
            }
            if (recorded is null || !recorded.Select(p => p.Name).SequenceEqual(Names))
                return (null, null, $"{file} does not record the ports of {string.Join(", ", Names)}; remove {dataDir} to start a new cluster");
            var ports = string.Join(", ", recorded.Select(p => $"{p.Name} {p.Client}/{p.Peer}"));
            return (recorded, $"reusing the ports this cluster was created with (clients/peers: {ports}), as its members' stored membership names them", null);
        }
        var hasMembers = Names.Any(n => Directory.Exists(Path.Combine(dataDir, $"{n}.raft")));
        if (hasMembers && freePorts)
            return (null, null,
                $"{Path.GetFullPath(dataDir)} holds members created on etcd's Procfile ports (it has no {Path.GetFileName(file)}): their stored membership names those peer ports, so new free ports would never elect a leader; run without --free-ports, or remove the directory to start a new cluster");
        return (NewPorts(freePorts), null, null);
    }

    /// <summary>Records <paramref name="ports"/> in the data directory (see <see cref="PortsFile"/>).</summary>
    public static void RecordPorts(string dataDir, IReadOnlyList<MemberPorts> ports)
    {
        Directory.CreateDirectory(dataDir);
        var file = PortsFile(dataDir);
        var temp = file + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(ports));
        File.Move(temp, file, overwrite: true);
    }

    /// <summary>The three members' options on new ports (etcd's Procfile ones, or free ones).</summary>
    public static IReadOnlyList<RaftNodeOptions> Members(string dataDir, bool freePorts) => Members(dataDir, NewPorts(freePorts));

    /// <summary>The three members' options on <paramref name="ports"/>.</summary>
    public static IReadOnlyList<RaftNodeOptions> Members(string dataDir, IReadOnlyList<MemberPorts> ports)
    {
        var cluster = string.Join(",", ports.Select(p => $"{p.Name}=http://127.0.0.1:{p.Peer}"));
        return ports.Select(p => new RaftNodeOptions
        {
            Name = p.Name,
            DataDir = Path.Combine(dataDir, $"{p.Name}.raft"),
            ListenClientUrls = $"http://127.0.0.1:{p.Client}",
            AdvertiseClientUrls = $"http://127.0.0.1:{p.Client}",
            ListenPeerUrls = $"http://127.0.0.1:{p.Peer}",
            InitialAdvertisePeerUrls = $"http://127.0.0.1:{p.Peer}",
            InitialCluster = cluster,
            InitialClusterToken = "etcd-cluster-1",
        }).ToArray();
    }

    private static async Task<int> RunAsync(string dataDir, bool freePorts, Microsoft.Extensions.Logging.LogLevel level, TextWriter output, TextWriter error, CancellationToken ct)
    {
        var (ports, note, problem) = ChoosePorts(dataDir, freePorts);
        if (ports is null)
        {
            await error.WriteLineAsync($"raft local-cluster: {problem}").ConfigureAwait(false);
            return 2;
        }
        if (note is not null)
            output.WriteLine(note);
        try
        {
            RecordPorts(dataDir, ports);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"raft local-cluster: {RaftNodeOptions.DescribeDataDirError(dataDir, ex)}").ConfigureAwait(false);
            return 1;
        }
        var members = Members(dataDir, ports);
        output.WriteLine($"local cluster of {members.Count} members, data under {Path.GetFullPath(dataDir)}; Ctrl-C stops it");
        // One process for all: a member cannot be stopped or killed alone.
        output.WriteLine("the members share this process; to stop or kill one member alone, run one `raft serve` per member (README: Run a cluster)");
        // All members stop together: when one fails, the others are stopped too.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var runs = members.Select(o => Task.Run(async () =>
        {
            var code = await ServeCommand.RunMemberAsync(o, level, o.Name, output, stop.Token, error).ConfigureAwait(false);
            if (code != 0)
                await stop.CancelAsync().ConfigureAwait(false);
            return code;
        })).ToArray();
        var codes = await Task.WhenAll(runs).ConfigureAwait(false);
        output.WriteLine("local cluster stopped");
        return codes.Max();
    }
}
