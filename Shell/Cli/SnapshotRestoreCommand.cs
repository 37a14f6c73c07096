using System.CommandLine;
using Raft.Kv.Backend;
using Raft.Shell.Node;

namespace Raft.Cli;

/// <summary>
/// <c>raft snapshot restore FILE --name N --data-dir D --initial-cluster ... --initial-cluster-token T</c>:
/// etcd's <c>etcdctl snapshot restore</c> for a file saved from our Maintenance.Snapshot
/// (<c>etcdctl snapshot save</c> against <c>raft serve</c>): it checks the file's SHA-256, loads the
/// store into a new data directory, and writes a WAL and raft snapshot for a new cluster of the
/// members named (run it once per member, with the same file, cluster and token). Then
/// <c>raft serve</c> with the same name, directory and URLs starts the member.
/// </summary>
public static class SnapshotRestoreCommand
{
    private static readonly RaftNodeOptions Defaults = new();

    /// <summary>The <c>snapshot</c> command with its <c>restore</c> subcommand.</summary>
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "A file saved by etcdctl snapshot save from a raft serve member" };
        var name = new Option<string>("--name") { Description = "Human-readable name for this member.", DefaultValueFactory = _ => Defaults.Name };
        var dataDir = new Option<string?>("--data-dir") { Description = "Path to the data directory to create (default: ${name}.raft)." };
        var peerUrls = new Option<string>("--initial-advertise-peer-urls") { Description = "List of this member's peer URLs to advertise to the rest of the cluster.", DefaultValueFactory = _ => Defaults.InitialAdvertisePeerUrls };
        var cluster = new Option<string?>("--initial-cluster") { Description = "Initial cluster configuration for restore bootstrap (default: ${name}=${initial-advertise-peer-urls})." };
        var token = new Option<string>("--initial-cluster-token") { Description = "Initial cluster token for the cluster during restore bootstrap.", DefaultValueFactory = _ => Defaults.InitialClusterToken };
        var restore = new Command("restore", "Restore a member's data directory from a snapshot file (like etcdctl snapshot restore)")
        {
            file, name, dataDir, peerUrls, cluster, token,
        };
        restore.SetAction((r, ct) =>
        {
            var o = new RaftNodeOptions
            {
                Name = r.GetValue(name)!,
                DataDir = r.GetValue(dataDir),
                InitialAdvertisePeerUrls = r.GetValue(peerUrls)!,
                InitialCluster = r.GetValue(cluster),
                InitialClusterToken = r.GetValue(token)!,
            };
            return RunAsync(r.GetValue(file)!, o, r.InvocationConfiguration.Output, r.InvocationConfiguration.Error, ct);
        });
        return new Command("snapshot", "Restore from a Maintenance snapshot") { restore };
    }

    /// <summary>Restores into <paramref name="o"/>'s data directory; returns the exit code (0 restored, 1 refused).</summary>
    public static async Task<int> RunAsync(string file, RaftNodeOptions o, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var dataDir = o.EffectiveDataDir;
        if (Directory.Exists(dataDir) && Directory.EnumerateFileSystemEntries(dataDir).Any())
        {
            error.WriteLine($"data-dir {dataDir} exists and is not empty: restore into a new directory");
            return 1;
        }
        try
        {
            var index = await KvBackends.RestoreMemberStoreAsync(dataDir, file, cancellationToken);
            var (member, clusterId) = MemberRestore.WriteRaftState(dataDir, o.Name, o.EffectiveInitialCluster, o.InitialClusterToken, index);
            output.WriteLine($"restored snapshot {file} into {dataDir}: member {member:x} of cluster {clusterId:x}, log starting after index {index}");
            return 0;
        }
        catch (Exception ex) when (ex is InvalidDataException or NodeStartException or IOException)
        {
            error.WriteLine($"snapshot restore: {ex.Message}");
            // Nothing half-made is left to start from.
            if (Directory.Exists(dataDir)) Directory.Delete(dataDir, recursive: true);
            return 1;
        }
    }
}
