using Raft.Shell.Node.Membership;

namespace Raft.Shell.Node;

/// <summary>
/// A member's settings, with etcd's names and defaults (server/embed/config.go); bind them from
/// configuration (section <c>Raft</c> in hosting) and check them with <see cref="Validate"/>.
/// </summary>
public sealed class RaftNodeOptions
{
    /// <summary>The configuration section hosting binds.</summary>
    public const string SectionName = "Raft";

    /// <summary>Human-readable name of this member (<c>--name</c>).</summary>
    public string Name { get; set; } = "default";

    /// <summary>Path to the data directory (<c>--data-dir</c>); defaults to <c>{Name}.raft</c>.</summary>
    public string? DataDir { get; set; }

    /// <summary>Comma-separated URLs to listen on for peer traffic (<c>--listen-peer-urls</c>).</summary>
    public string ListenPeerUrls { get; set; } = "http://127.0.0.1:2380";

    /// <summary>Comma-separated peer URLs of this member to advertise to the rest of the cluster (<c>--initial-advertise-peer-urls</c>).</summary>
    public string InitialAdvertisePeerUrls { get; set; } = "http://127.0.0.1:2380";

    /// <summary>Comma-separated URLs to listen on for client traffic (<c>--listen-client-urls</c>); used by the host, not the node.</summary>
    public string ListenClientUrls { get; set; } = "http://127.0.0.1:2379";

    /// <summary>Comma-separated client URLs of this member, published to the cluster (<c>--advertise-client-urls</c>).</summary>
    public string AdvertiseClientUrls { get; set; } = "http://127.0.0.1:2379";

    /// <summary>
    /// Initial cluster configuration for bootstrapping, <c>name=url,...</c> (<c>--initial-cluster</c>);
    /// defaults to this member alone at its advertised peer URLs.
    /// </summary>
    public string? InitialCluster { get; set; }

    /// <summary><c>new</c> to bootstrap a cluster, <c>existing</c> to join one (<c>--initial-cluster-state</c>).</summary>
    public string InitialClusterState { get; set; } = "new";

    /// <summary>Initial cluster token, which makes ids unique across clusters (<c>--initial-cluster-token</c>).</summary>
    public string InitialClusterToken { get; set; } = MemberIds.DefaultClusterToken;

    /// <summary>Restart as a one-member cluster from the existing data (<c>--force-new-cluster</c>).</summary>
    public bool ForceNewCluster { get; set; }

    /// <summary>Applied entries between snapshots (<c>--snapshot-count</c>).</summary>
    public ulong SnapshotCount { get; set; } = 10_000;

    /// <summary>Entries kept in memory after a snapshot so slow followers can catch up without one.</summary>
    public ulong SnapshotCatchUpEntries { get; set; } = 5_000;

    /// <summary>Time of a heartbeat interval, in milliseconds (<c>--heartbeat-interval</c>).</summary>
    public int HeartbeatIntervalMs { get; set; } = 100;

    /// <summary>Time of an election timeout, in milliseconds (<c>--election-timeout</c>).</summary>
    public int ElectionTimeoutMs { get; set; } = 1000;

    /// <summary>WAL files to keep; 0 keeps all (<c>--max-wals</c>).</summary>
    public int MaxWalFiles { get; set; } = 5;

    /// <summary>Snapshot files to keep; 0 keeps all (<c>--max-snapshots</c>).</summary>
    public int MaxSnapFiles { get; set; } = 5;

    /// <summary>Largest proposal accepted, in bytes (<c>--max-request-bytes</c>).</summary>
    public int MaxRequestBytes { get; set; } = 1536 * 1024;

    /// <summary>Run Raft's pre-vote phase (<c>--pre-vote</c>).</summary>
    public bool PreVote { get; set; } = true;

    /// <summary>Refuse membership changes that could lose quorum (<c>--strict-reconfig-check</c>).</summary>
    public bool StrictReconfigCheck { get; set; } = true;

    /// <summary>
    /// How long peers must have been connected for a membership change to count them as healthy
    /// (etcd's fixed HealthInterval, 5 s), in milliseconds.
    /// </summary>
    public int HealthIntervalMs { get; set; } = 5000;

    /// <summary>Skip fdatasync; loses acknowledged writes on power failure (<c>--unsafe-no-fsync</c>).</summary>
    public bool UnsafeNoFsync { get; set; }

    /// <summary>
    /// Failpoints to arm, in the <c>RAFT_FAILPOINTS</c> form; null uses the environment variable.
    /// </summary>
    public string? Failpoints { get; set; }

    /// <summary>
    /// Adjusts the storage settings the node derives from these options (tests: a simulated disk,
    /// small segments). Internal, and not copied by <see cref="CopyTo"/>.
    /// </summary>
    internal Action<Raft.Shell.Wal.WalOptions>? ConfigureStorage { get; set; }

    /// <summary>Copies every option to <paramref name="target"/>.</summary>
    public void CopyTo(RaftNodeOptions target)
    {
        foreach (var p in typeof(RaftNodeOptions).GetProperties())
            if (p.CanWrite)
                p.SetValue(target, p.GetValue(this));
    }

    /// <summary>Splits a comma-separated URL list.</summary>
    public static IReadOnlyList<string> SplitUrls(string? urls) =>
        (urls ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The data directory in effect.</summary>
    public string EffectiveDataDir => string.IsNullOrEmpty(DataDir) ? $"{Name}.raft" : DataDir;

    /// <summary>The initial cluster in effect.</summary>
    public string EffectiveInitialCluster =>
        string.IsNullOrWhiteSpace(InitialCluster) ? string.Join(",", SplitUrls(InitialAdvertisePeerUrls).Select(u => $"{Name}={u}")) : InitialCluster;

    /// <summary>Whether this member bootstraps a new cluster (as opposed to joining one).</summary>
    public bool IsNewCluster => InitialClusterState == "new";

    /// <summary>Heartbeat interval as a TimeSpan.</summary>
    public TimeSpan HeartbeatInterval => TimeSpan.FromMilliseconds(HeartbeatIntervalMs);

    /// <summary>Election timeout in heartbeat ticks.</summary>
    public int ElectionTicks => ElectionTimeoutMs / HeartbeatIntervalMs;

    /// <summary>etcd's ReqTimeout: 5 s plus two election timeouts.</summary>
    public TimeSpan RequestTimeout => TimeSpan.FromSeconds(5) + TimeSpan.FromMilliseconds(2.0 * ElectionTimeoutMs);

    /// <summary>
    /// Checks the options as etcd checks its flags. Returns every problem, each naming the flag;
    /// empty when the options are usable.
    /// </summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Name))
            errors.Add("--name must not be empty");
        if (InitialClusterState is not ("new" or "existing"))
            errors.Add($"--initial-cluster-state must be \"new\" or \"existing\" (got \"{InitialClusterState}\")");
        if (HeartbeatIntervalMs <= 0)
            errors.Add($"--heartbeat-interval must be positive (got {HeartbeatIntervalMs})");
        if (ElectionTimeoutMs <= 0)
            errors.Add($"--election-timeout must be positive (got {ElectionTimeoutMs})");
        else if (HeartbeatIntervalMs > 0 && 5 * HeartbeatIntervalMs > ElectionTimeoutMs)
            errors.Add($"--election-timeout[{ElectionTimeoutMs}ms] should be at least as 5 times as --heartbeat-interval[{HeartbeatIntervalMs}ms]");
        if (ElectionTimeoutMs > 50000)
            errors.Add($"--election-timeout[{ElectionTimeoutMs}ms] is too long, and should be set less than 50000ms");
        if (SnapshotCount == 0)
            errors.Add("--snapshot-count must be positive");
        if (MaxRequestBytes <= 0)
            errors.Add($"--max-request-bytes must be positive (got {MaxRequestBytes})");
        if (MaxWalFiles < 0 || MaxSnapFiles < 0)
            errors.Add("--max-wals and --max-snapshots must not be negative");
        CheckUrls("--listen-peer-urls", ListenPeerUrls, errors);
        CheckUrls("--initial-advertise-peer-urls", InitialAdvertisePeerUrls, errors);
        CheckUrls("--listen-client-urls", ListenClientUrls, errors);
        CheckUrls("--advertise-client-urls", AdvertiseClientUrls, errors);
        var cluster = Membership.InitialCluster.TryParse(EffectiveInitialCluster, out var clusterError);
        if (cluster is null)
        {
            errors.Add($"--initial-cluster: {clusterError}");
        }
        else if (!ForceNewCluster || IsNewCluster)
        {
            // etcd's VerifyBootstrap / VerifyJoinExisting: this member must be in the initial
            // cluster, at exactly its advertised peer URLs.
            if (!cluster.Members.TryGetValue(Name, out var urls))
            {
                errors.Add($"--initial-cluster has no member named \"{Name}\" (--name); it lists {string.Join(", ", cluster.Members.Keys)}");
            }
            else
            {
                var advertised = PeerUrls.TryParse(SplitUrls(InitialAdvertisePeerUrls), out _);
                if (advertised is not null && !urls.SequenceEqual(advertised, StringComparer.Ordinal))
                    errors.Add($"--initial-cluster has {Name}={string.Join(",", urls)} but missing from --initial-advertise-peer-urls={string.Join(",", advertised)}");
            }
        }
        if (Failpoints is { Length: > 0 })
        {
            if (FailpointSet.TryParse(Failpoints, out var fpError) is null)
                errors.Add($"failpoints: {fpError}");
        }
        else if (FailpointSet.EnvironmentError is { } envError)
        {
            errors.Add(envError);
        }
        return errors;
    }

    private static void CheckUrls(string flag, string urls, List<string> errors)
    {
        if (PeerUrls.TryParse(SplitUrls(urls), out var error) is null)
            errors.Add($"{flag}: {error}");
    }
}
