using Raft.Shell.Node.Membership;
using Raft.Shell.Transport.Tls;

namespace Raft.Shell.Node;

/// <summary>
/// A member's settings, with etcd's names and defaults (server/embed/config.go) except that a
/// member has no client URLs unless given; bind them from configuration (section <c>Raft</c> in
/// hosting, keys are the property names) and check them with <see cref="Validate()"/>.
/// </summary>
public sealed class RaftNodeOptions
{
    /// <summary>The configuration section hosting binds.</summary>
    public const string SectionName = "Raft";

    /// <summary>The configuration key of the option whose property is <paramref name="property"/>, e.g. <c>Raft:InitialCluster</c>; messages name options by it.</summary>
    public static string Key(string property) => $"{SectionName}:{property}";

    /// <summary>Human-readable name of this member (<c>--name</c>).</summary>
    public string Name { get; set; } = "default";

    /// <summary>Path to the data directory (<c>--data-dir</c>); defaults to <c>{Name}.raft</c>.</summary>
    public string? DataDir { get; set; }

    /// <summary>Comma-separated URLs to listen on for peer traffic (<c>--listen-peer-urls</c>).</summary>
    public string ListenPeerUrls { get; set; } = "http://127.0.0.1:2380";

    /// <summary>Comma-separated peer URLs of this member to advertise to the rest of the cluster (<c>--initial-advertise-peer-urls</c>).</summary>
    public string InitialAdvertisePeerUrls { get; set; } = "http://127.0.0.1:2380";

    /// <summary>
    /// Comma-separated URLs to listen on for client traffic (<c>--listen-client-urls</c>); used by
    /// the host, not the node. Empty (the default) for a host that serves no clients; <c>raft serve</c>
    /// defaults to etcd's http://127.0.0.1:2379.
    /// </summary>
    public string ListenClientUrls { get; set; } = "";

    /// <summary>
    /// Comma-separated client URLs of this member, published to the cluster
    /// (<c>--advertise-client-urls</c>). Empty (the default): the member publishes none.
    /// </summary>
    public string AdvertiseClientUrls { get; set; } = "";

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
    /// Peer TLS (etcd's <c>--peer-cert-file</c>, <c>--peer-key-file</c>, <c>--peer-trusted-ca-file</c>,
    /// <c>--peer-client-cert-auth</c>, <c>--peer-auto-tls</c>, <c>--peer-crl-file</c>,
    /// <c>--peer-cert-allowed-cn</c>, <c>--peer-cert-allowed-hostname</c>); needs https:// peer URLs.
    /// Not enabled by default: peers speak plain TCP.
    /// </summary>
    public TlsOptions PeerTls { get; set; } = new();

    /// <summary>
    /// Client TLS (etcd's <c>--cert-file</c>, <c>--key-file</c>, <c>--trusted-ca-file</c>,
    /// <c>--client-cert-auth</c>, <c>--auto-tls</c>, <c>--client-crl-file</c>, <c>--cipher-suites</c>,
    /// <c>--tls-min-version</c>, <c>--tls-max-version</c>) for https:// client URLs; used by the host
    /// that serves clients (Raft.Kv's <c>UseKvClientUrls</c>), not the node.
    /// </summary>
    public TlsOptions ClientTls { get; set; } = new();

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
    /// Checks the options as etcd checks its flags. Returns every problem, each naming the option
    /// by its configuration key (<c>Raft:InitialCluster</c>); empty when the options are usable.
    /// </summary>
    public IReadOnlyList<string> Validate() => Validate(Key);

    /// <summary>
    /// As <see cref="Validate()"/>, naming each option by <paramref name="optionName"/> of its
    /// property name (<c>nameof(InitialCluster)</c>): a command line names its flags.
    /// </summary>
    public IReadOnlyList<string> Validate(Func<string, string> optionName)
    {
        var errors = new List<string>();
        string N(string property) => optionName(property);
        if (string.IsNullOrWhiteSpace(Name))
            errors.Add($"{N(nameof(Name))} must not be empty");
        if (InitialClusterState is not ("new" or "existing"))
            errors.Add($"{N(nameof(InitialClusterState))} must be \"new\" or \"existing\" (got \"{InitialClusterState}\")");
        if (HeartbeatIntervalMs <= 0)
            errors.Add($"{N(nameof(HeartbeatIntervalMs))} must be positive (got {HeartbeatIntervalMs})");
        if (ElectionTimeoutMs <= 0)
            errors.Add($"{N(nameof(ElectionTimeoutMs))} must be positive (got {ElectionTimeoutMs})");
        else if (HeartbeatIntervalMs > 0 && 5 * HeartbeatIntervalMs > ElectionTimeoutMs)
            errors.Add($"{N(nameof(ElectionTimeoutMs))}[{ElectionTimeoutMs}ms] should be at least as 5 times as {N(nameof(HeartbeatIntervalMs))}[{HeartbeatIntervalMs}ms]");
        if (ElectionTimeoutMs > 50000)
            errors.Add($"{N(nameof(ElectionTimeoutMs))}[{ElectionTimeoutMs}ms] is too long, and should be set less than 50000ms");
        if (SnapshotCount == 0)
            errors.Add($"{N(nameof(SnapshotCount))} must be positive");
        if (MaxRequestBytes <= 0)
            errors.Add($"{N(nameof(MaxRequestBytes))} must be positive (got {MaxRequestBytes})");
        if (MaxWalFiles < 0)
            errors.Add($"{N(nameof(MaxWalFiles))} must not be negative (got {MaxWalFiles})");
        if (MaxSnapFiles < 0)
            errors.Add($"{N(nameof(MaxSnapFiles))} must not be negative (got {MaxSnapFiles})");
        CheckUrls(N(nameof(ListenPeerUrls)), ListenPeerUrls, required: true, errors);
        CheckUrls(N(nameof(InitialAdvertisePeerUrls)), InitialAdvertisePeerUrls, required: true, errors);
        // A node that serves no clients (a library host's own) has no client URLs.
        CheckUrls(N(nameof(ListenClientUrls)), ListenClientUrls, required: false, errors);
        CheckUrls(N(nameof(AdvertiseClientUrls)), AdvertiseClientUrls, required: false, errors);
        errors.AddRange(NodeTlsChecks.Check(this, N));
        var cluster = Membership.InitialCluster.TryParse(EffectiveInitialCluster, out var clusterError);
        if (cluster is null)
        {
            errors.Add($"{N(nameof(InitialCluster))}: {clusterError}");
        }
        else if (!ForceNewCluster || IsNewCluster)
        {
            // etcd's VerifyBootstrap / VerifyJoinExisting: this member must be in the initial
            // cluster, at exactly its advertised peer URLs.
            if (!cluster.Members.TryGetValue(Name, out var urls))
            {
                errors.Add($"{N(nameof(InitialCluster))} has no member named \"{Name}\" ({N(nameof(Name))}); it lists {string.Join(", ", cluster.Members.Keys)}");
            }
            else
            {
                var advertised = PeerUrls.TryParse(SplitUrls(InitialAdvertisePeerUrls), out _);
                if (advertised is not null && !urls.SequenceEqual(advertised, StringComparer.Ordinal))
                    errors.Add($"{N(nameof(InitialCluster))} has {Name}={string.Join(",", urls)} but missing from {N(nameof(InitialAdvertisePeerUrls))}={string.Join(",", advertised)}");
            }
        }
        if (Failpoints is { Length: > 0 })
        {
            if (FailpointSet.TryParse(Failpoints, out var fpError) is null)
                errors.Add($"{N(nameof(Failpoints))}: {fpError}");
        }
        else if (FailpointSet.EnvironmentError is { } envError)
        {
            errors.Add(envError);
        }
        return errors;
    }

    /// <summary>
    /// Why directory <paramref name="dataDir"/> could not be created (<paramref name="error"/> is
    /// what creating it threw), in words about the path: a file in the way, a dangling link, no
    /// permission to write in the nearest existing directory. The runtime's own message says only
    /// "Could not find a part of the path" or "The file ... already exists".
    /// </summary>
    internal static string DescribeDataDirError(string dataDir, Exception error)
    {
        var full = Path.GetFullPath(dataDir);
        if (new FileInfo(full).LinkTarget is { } target && !Directory.Exists(full))
            return $"cannot create data directory {full}: it is a symbolic link to {target}, which is not a directory";
        if (File.Exists(full))
            return $"cannot create data directory {full}: a file is in the way (it must be a directory)";
        // The nearest ancestor that exists decides: a file cannot hold a directory, and a directory
        // must be writable to make the rest of the path in it.
        for (var parent = Path.GetDirectoryName(full); parent is not null; parent = Path.GetDirectoryName(parent))
        {
            if (File.Exists(parent))
                return $"cannot create data directory {full}: {parent} is a file, not a directory";
            if (Directory.Exists(parent))
            {
                return error is UnauthorizedAccessException
                    ? $"cannot create data directory {full}: no permission to write in {parent}"
                    : $"cannot create data directory {full} in {parent}: {error.Message}";
            }
        }
        return $"cannot create data directory {full}: {error.Message}";
    }

    private static void CheckUrls(string option, string? urls, bool required, List<string> errors)
    {
        var list = SplitUrls(urls);
        if ((required || list.Count > 0) && PeerUrls.TryParse(list, out var error) is null)
            errors.Add($"{option}: {error}");
    }
}
