using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Raft.Shell.Tests.EndToEnd;

namespace Raft.Shell.Tests.Chaos;

/// <summary>
/// Which program a chaos member runs: our <c>raft serve</c> or etcd. Both take etcd's flags, so the
/// command line differs only in the program and its logging flags; what differs besides is how each
/// says it serves clients and which member id it has. Everything else (schedule, clients, checker)
/// is the same for both, so one seed gives both the same faults.
/// </summary>
internal abstract partial class MemberFlavour
{
    /// <summary>Our <c>raft serve</c>.</summary>
    public static MemberFlavour Raft { get; } = new RaftServe();

    /// <summary>The <c>etcd</c> on PATH (Debian's etcd-server, 3.4).</summary>
    public static MemberFlavour Etcd { get; } = new EtcdServer();

    /// <summary>
    /// Timing and snapshot flags both get, spelled alike: our defaults, which are etcd 3.5's. etcd 3.4
    /// defaults to pre-vote off and a snapshot every 100,000 entries; it is given ours so that the
    /// two run the same Raft configuration (heartbeat 100 ms, election 1000 ms, pre-vote on,
    /// check-quorum on in both, 5,000 catch-up entries in both).
    /// </summary>
    public static IReadOnlyList<string> SharedFlags { get; } =
        ["--heartbeat-interval", "100", "--election-timeout", "1000", "--snapshot-count", "10000", "--pre-vote=true"];

    /// <summary>Short name for logs, labels and reports: <c>raft</c> or <c>etcd</c>.</summary>
    public abstract string Name { get; }

    /// <summary>What the program says its version is (for reports).</summary>
    public abstract string Version { get; }

    /// <summary>Fails the test with a clear message when the program is not there.</summary>
    public abstract void CheckInstalled();

    /// <summary>Starts <paramref name="m"/>'s process on its addresses and data directory.</summary>
    public abstract RaftProcess Start(ChaosMember m);

    /// <summary>Text in a process's output once it serves clients.</summary>
    public abstract string ReadyText(ChaosMember m);

    /// <summary>Finds the member id (hex, group 1) in a process's output.</summary>
    public abstract Regex IdPattern { get; }

    /// <summary>
    /// The uid <paramref name="m"/> runs as when the program does not bind its own address for the
    /// connections it dials (see <see cref="Firewall.SourceFrom"/>); null when it does, or when the
    /// tests do not run as root.
    /// </summary>
    public virtual uint? Uid(ChaosMember m) => null;

    /// <summary>etcd's member flags, the same for both programs.</summary>
    protected static IEnumerable<string> MemberFlags(ChaosMember m) =>
    [
        "--name", m.Name, "--data-dir", m.DataDir,
        "--listen-client-urls", m.ClientUrl, "--advertise-client-urls", m.ClientUrl,
        "--listen-peer-urls", m.PeerUrl, "--initial-advertise-peer-urls", m.PeerUrl,
        "--initial-cluster", m.InitialCluster, "--initial-cluster-state", m.InitialClusterState, "--initial-cluster-token", m.Token,
        .. WithOwnFlags(m.Flags),
    ];

    /// <summary>
    /// <see cref="SharedFlags"/> less those the member sets itself, then the member's own flags: a
    /// flag given twice is an error, and a test's own choice (a small snapshot count) wins.
    /// </summary>
    internal static IEnumerable<string> WithOwnFlags(IReadOnlyList<string> own)
    {
        static string FlagName(string flag) => flag.Split('=', 2)[0];
        var set = own.Where(f => f.StartsWith("--", StringComparison.Ordinal)).Select(FlagName).ToHashSet();
        for (var i = 0; i < SharedFlags.Count; i++)
        {
            var flag = SharedFlags[i];
            var withValue = !flag.Contains('='); // "--flag value" rather than "--flag=value"
            if (!set.Contains(FlagName(flag)))
            {
                yield return flag;
                if (withValue) yield return SharedFlags[i + 1];
            }
            if (withValue) i++;
        }
        foreach (var flag in own)
            yield return flag;
    }

    public override string ToString() => Name;

    private sealed partial class RaftServe : MemberFlavour
    {
        public override string Name => "raft";

        public override string Version =>
            "raft serve " + (FileVersionInfo.GetVersionInfo(RaftProcess.Dll).ProductVersion ?? "?");

        public override void CheckInstalled() =>
            Assert.True(File.Exists(RaftProcess.Dll), $"the raft program is not built at {RaftProcess.Dll}");

        public override RaftProcess Start(ChaosMember m) => RaftProcess.Start(["serve", .. MemberFlags(m)], m.Environment);

        public override string ReadyText(ChaosMember m) => $"{m.Name}: member ";

        public override Regex IdPattern => StartLine();

        [GeneratedRegex(@": member ([0-9a-f]+) of cluster ([0-9a-f]+);")]
        private static partial Regex StartLine();
    }

    private sealed partial class EtcdServer : MemberFlavour
    {
        private const string Program = "etcd";
        private string? _version;

        public override string Name => "etcd";

        public override string Version => _version ??= Run("--version").Split('\n')[0].Trim();

        public override void CheckInstalled()
        {
            var found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
                .Any(d => File.Exists(Path.Combine(d, Program)));
            Assert.True(found,
                "etcd is not on PATH: the comparison with etcd 3.4 needs Debian's etcd-server " +
                "(.ci/run installs it; by hand: apt-get update && apt-get install -y etcd-server)");
        }

        // zap to standard error: structured lines, one of which names the member id and one of which
        // says client traffic is served (only once the member has joined its cluster).
        public override RaftProcess Start(ChaosMember m)
        {
            string[] etcd = [Program, .. MemberFlags(m), "--logger", "zap", "--log-outputs", "stderr"];
            if (Uid(m) is not { } uid || OperatingSystem.IsWindows())
                return RaftProcess.StartProgram(etcd[0], etcd[1..], m.Environment);
            // Its own uid: the firewall recognises its connections by it. The data directory is its own.
            if (!Directory.Exists(m.DataDir))
            {
                Directory.CreateDirectory(m.DataDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                Assert.True(Chown(m.DataDir, uid, uid) == 0, $"chown {m.DataDir} to {uid} failed: {Marshal.GetLastPInvokeError()}");
            }
            return RaftProcess.StartProgram("setpriv", [$"--reuid={uid}", $"--regid={uid}", "--clear-groups", .. etcd], m.Environment);
        }

        // etcd's rafthttp dials peers with no local address, so its connections leave from
        // 127.0.0.1 whatever address it listens on. A uid per member (distinct per RAFT_CHAOS_NET,
        // so that two runs on one machine do not share one) lets the firewall tell them apart.
        public override uint? Uid(ChaosMember m) =>
            GetEuid() == 0 ? 60_000u + uint.Parse(ChaosNet.Prefix.Split('.')[2]) * 16u + (uint)m.Index : null;

        public override string ReadyText(ChaosMember m) => "\"msg\":\"serving client traffic";

        public override Regex IdPattern => LocalMemberId();

        [GeneratedRegex("\"local-member-id\":\"([0-9a-f]+)\"")]
        private static partial Regex LocalMemberId();

        [DllImport("libc", EntryPoint = "geteuid")]
        private static extern uint GetEuid();

        [DllImport("libc", EntryPoint = "chown", SetLastError = true)]
        private static extern int Chown(string path, uint owner, uint group);

        private static string Run(string args)
        {
            var psi = new ProcessStartInfo(Program, args) { RedirectStandardOutput = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return output;
        }
    }
}
