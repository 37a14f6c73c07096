using Raft.Shell.Node;
using Raft.Shell.Storage;
using Raft.Shell.Tests.PowerLoss;
using Raft.Shell.Wal;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Node;

/// <summary>
/// Members of a <see cref="NodeCluster"/> whose WALs live on simulated disks (<see cref="SimDisk"/>),
/// so a power cut loses exactly what was not synced: for --force-new-cluster after a cut of every
/// member at once.
/// </summary>
internal sealed class PowerCutMembers(NodeCluster cluster, ITestOutputHelper output)
{
    private readonly Dictionary<string, SimDisk> _disks = new();

    /// <summary>The member's options with its WAL on its simulated disk (made on first use).</summary>
    public RaftNodeOptions Options(string name, bool forceNewCluster = false)
    {
        if (!_disks.ContainsKey(name))
            _disks[name] = new SimDisk(cluster.DataDir(name));
        var o = cluster.Options(name);
        o.ForceNewCluster = forceNewCluster;
        // An election after the last put writes its hard state with a sync, commit index and all,
        // and the cut then loses nothing the test looks at; slower timeouts keep a loaded machine
        // (other tests beside) from electing by accident.
        o.HeartbeatIntervalMs = 100;
        o.ElectionTimeoutMs = 1000;
        o.ConfigureStorage = w => w.FileSystem = _disks[name];
        return o;
    }

    /// <summary>Cuts every disk's power at once (unsynced writes are lost), then stops the members.</summary>
    public async Task CutAllAsync()
    {
        foreach (var n in _disks.Keys.ToArray())
            _disks[n] = _disks[n].PowerCut(CutMode.DropAll, new Random(TestSeed.Value));
        foreach (var n in _disks.Keys)
        {
            try
            {
                await cluster.StopAsync(n);
            }
            catch (Exception ex)
            {
                output.WriteLine($"{n} stopped on a dead disk: {ex.GetType().Name}");
            }
        }
    }

    /// <summary>What the member's WAL holds now: its hard state and entries.</summary>
    public RestartState ReadWal(string name)
    {
        var (storage, state) = NodeStorage.Restart(cluster.DataDir(name), new WalOptions { FileSystem = _disks[name] });
        storage.Close();
        return state;
    }
}
