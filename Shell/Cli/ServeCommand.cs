using System.Runtime.InteropServices;
using System.CommandLine;
using System.CommandLine.Parsing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Raft.Shell.Node;

namespace Raft.Cli;

/// <summary>
/// <c>raft serve</c>: one member of the key-value service, with etcd's flag names, meanings and
/// defaults. With no flags: a one-member cluster named <c>default</c>, clients on 127.0.0.1:2379,
/// peers on 127.0.0.1:2380, data in <c>./default.raft</c>.
/// </summary>
public static class ServeCommand
{
    private static readonly RaftNodeOptions Defaults = new();

    /// <summary>etcd's default client URL, which <c>raft serve</c> keeps (a library host has none by default).</summary>
    public const string DefaultClientUrl = "http://127.0.0.1:2379";

    private static readonly Option<string> Name = Flag("--name", "Human-readable name for this member.", Defaults.Name);
    private static readonly Option<string?> DataDir = new("--data-dir") { Description = "Path to the data directory (default: ${name}.raft)." };
    private static readonly Option<string> ListenClientUrls = Flag("--listen-client-urls", "List of URLs to listen on for client traffic.", DefaultClientUrl);
    private static readonly Option<string> AdvertiseClientUrls = Flag("--advertise-client-urls", "List of this member's client URLs to advertise to the public.", DefaultClientUrl);
    private static readonly Option<string> ListenPeerUrls = Flag("--listen-peer-urls", "List of URLs to listen on for peer traffic.", Defaults.ListenPeerUrls);
    private static readonly Option<string> InitialAdvertisePeerUrls = Flag("--initial-advertise-peer-urls", "List of this member's peer URLs to advertise to the rest of the cluster.", Defaults.InitialAdvertisePeerUrls);
    private static readonly Option<string?> InitialCluster = new("--initial-cluster") { Description = "Initial cluster configuration for bootstrapping (default: ${name}=${initial-advertise-peer-urls})." };
    private static readonly Option<string> InitialClusterState = Flag("--initial-cluster-state", "Initial cluster state ('new' or 'existing').", Defaults.InitialClusterState);
    private static readonly Option<string> InitialClusterToken = Flag("--initial-cluster-token", "Initial cluster token for the cluster during bootstrap.", Defaults.InitialClusterToken);
    private static readonly Option<bool> ForceNewCluster = new("--force-new-cluster") { Description = "Force to create a new one member cluster." };
    private static readonly Option<ulong> SnapshotCount = Flag("--snapshot-count", "Number of committed transactions to trigger a snapshot to disk.", Defaults.SnapshotCount);
    private static readonly Option<ulong> SnapshotCatchUpEntries = Flag("--experimental-snapshot-catchup-entries", "Number of entries for a slow follower to catch up after compacting the raft storage entries.", Defaults.SnapshotCatchUpEntries);
    private static readonly Option<int> HeartbeatInterval = Flag("--heartbeat-interval", "Time (in milliseconds) of a heartbeat interval.", Defaults.HeartbeatIntervalMs);
    private static readonly Option<int> ElectionTimeout = Flag("--election-timeout", "Time (in milliseconds) for an election to timeout.", Defaults.ElectionTimeoutMs);
    private static readonly Option<int> MaxWals = Flag("--max-wals", "Maximum number of wal files to retain (0 is unlimited).", Defaults.MaxWalFiles);
    private static readonly Option<int> MaxSnapshots = Flag("--max-snapshots", "Maximum number of snapshot files to retain (0 is unlimited).", Defaults.MaxSnapFiles);
    private static readonly Option<int> MaxRequestBytes = Flag("--max-request-bytes", "Maximum client request size in bytes the server will accept.", Defaults.MaxRequestBytes);
    private static readonly Option<bool> PreVote = Flag("--pre-vote", "Enable to run an additional Raft election phase.", Defaults.PreVote);
    private static readonly Option<bool> StrictReconfigCheck = Flag("--strict-reconfig-check", "Reject reconfiguration requests that would cause quorum loss.", Defaults.StrictReconfigCheck);
    private static readonly Option<bool> UnsafeNoFsync = new("--unsafe-no-fsync") { Description = "Disables fsync, unsafe, will cause data loss." };
    private static readonly Option<long> QuotaBackendBytes = Flag("--quota-backend-bytes", "Raise alarms when backend size exceeds the given quota (0 defaults to low space quota).", 0L);
    private static readonly Option<string> BackendBatchInterval = Flag("--backend-batch-interval", "BackendBatchInterval is the maximum time before commit the backend transaction.", "100ms");
    private static readonly Option<int> BackendBatchLimit = Flag("--backend-batch-limit", "BackendBatchLimit is the maximum operations before commit the backend transaction.", 10_000);
    private static readonly Option<string> AutoCompactionMode = Flag("--auto-compaction-mode", "interpret 'auto-compaction-retention' one of: periodic|revision. 'periodic' for duration based retention, defaulting to hours if no time unit is provided (e.g. '5m'). 'revision' for revision number based retention.", "periodic");
    private static readonly Option<string> AutoCompactionRetention = Flag("--auto-compaction-retention", "Auto compaction retention for mvcc key value store. 0 means disable auto compaction.", "0");
    private static readonly Option<string> AuthToken = Flag("--auth-token", "Specify auth token specific options (simple, or jwt,pub-key=FILE,priv-key=FILE,sign-method=RS256,ttl=5m).", "simple");
    private static readonly Option<int> AuthTokenTtl = Flag("--auth-token-ttl", "The lifetime in seconds of the auth token.", 300);
    private static readonly Option<bool> FileCheckpoints = Flag("--file-checkpoints", "Send a lagging follower the database file (LMDB's compacted copy), which it renames into place; false sends the key-value dump, for members that run different LMDB builds.", true);
    private static readonly Option<int> BcryptCost = Flag("--bcrypt-cost", "Specify bcrypt algorithm cost factor for auth password hashing.", Raft.Kv.Auth.AuthStore.DefaultBcryptCost);
    private static readonly Raft.Kv.KvServiceOptions KvDefaults = new();
    private static readonly Option<uint> MaxConcurrentStreams = Flag("--max-concurrent-streams", "Maximum concurrent streams that each client can open at a time (etcd's default is 4294967295).", (uint)KvDefaults.MaxConcurrentStreams);
    private static readonly Option<int> MaxRecvBytes = Flag("--max-recv-bytes", "Maximum gRPC message size in bytes the server will receive (0: max-request-bytes + 512 KiB, as etcd).", 0);
    private static readonly Option<int> MaxSendBytes = Flag("--max-send-bytes", "Maximum gRPC message size in bytes the server will send.", KvDefaults.MaxSendBytes);
    private static readonly Option<int> MaxClientConnections = Flag("--max-client-connections", "Maximum client connections each client URL holds open at once (0 is unlimited).", KvDefaults.MaxClientConnections);
    private static readonly Option<int> MaxWatchesPerConnection = Flag("--max-watches-per-connection", "Maximum watchers one client connection may hold (0 is unlimited).", KvDefaults.MaxWatchesPerConnection);
    private static readonly Option<string> RequestHeaderTimeout = Flag("--request-header-timeout", "Maximum time a client may take to send a request's headers (e.g. '10s').", "10s");
    private static readonly Option<string> LogLevel = LogLevelFlag();

    private static Option<T> Flag<T>(string name, string description, T defaultValue) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue };

    /// <summary>The <c>--log-level</c> flag (etcd's debug, info, warn, error).</summary>
    public static Option<string> LogLevelFlag()
    {
        var o = Flag("--log-level", "Configures log level. Only supports debug, info, warn, error.", "info");
        o.AcceptOnlyFromAmong("debug", "info", "warn", "error");
        return o;
    }

    /// <summary>etcd's level names as ILogger levels.</summary>
    public static LogLevel Level(string name) => name switch
    {
        "debug" => Microsoft.Extensions.Logging.LogLevel.Debug,
        "warn" => Microsoft.Extensions.Logging.LogLevel.Warning,
        "error" => Microsoft.Extensions.Logging.LogLevel.Error,
        _ => Microsoft.Extensions.Logging.LogLevel.Information,
    };

    /// <summary>The <c>serve</c> command.</summary>
    public static Command Create()
    {
        var command = new Command("serve", "Run a member of the replicated key-value service (etcd's v3 gRPC API and JSON gateway).")
        {
            Name, DataDir, ListenClientUrls, AdvertiseClientUrls, ListenPeerUrls, InitialAdvertisePeerUrls, InitialCluster,
            InitialClusterState, InitialClusterToken, ForceNewCluster, SnapshotCount, SnapshotCatchUpEntries, HeartbeatInterval, ElectionTimeout,
            MaxWals, MaxSnapshots, MaxRequestBytes, PreVote, StrictReconfigCheck, UnsafeNoFsync, QuotaBackendBytes,
            BackendBatchInterval, BackendBatchLimit, AutoCompactionMode, AutoCompactionRetention, AuthToken, AuthTokenTtl, BcryptCost, FileCheckpoints,
            MaxConcurrentStreams, MaxRecvBytes, MaxSendBytes, MaxClientConnections, MaxWatchesPerConnection, RequestHeaderTimeout, LogLevel,
        };
        foreach (var tls in TlsFlags.All) command.Options.Add(tls);
        command.SetAction((result, ct) => RunAsync(result, ct));
        return command;
    }

    /// <summary>The options the flags give, or the reasons they are unusable.</summary>
    public static (RaftNodeOptions? Options, IReadOnlyList<string> Errors) Options(ParseResult r)
    {
        var o = new RaftNodeOptions
        {
            Name = r.GetValue(Name)!,
            DataDir = r.GetValue(DataDir),
            ListenClientUrls = r.GetValue(ListenClientUrls)!,
            AdvertiseClientUrls = r.GetValue(AdvertiseClientUrls)!,
            ListenPeerUrls = r.GetValue(ListenPeerUrls)!,
            InitialAdvertisePeerUrls = r.GetValue(InitialAdvertisePeerUrls)!,
            InitialCluster = r.GetValue(InitialCluster),
            InitialClusterState = r.GetValue(InitialClusterState)!,
            InitialClusterToken = r.GetValue(InitialClusterToken)!,
            ForceNewCluster = r.GetValue(ForceNewCluster),
            SnapshotCount = r.GetValue(SnapshotCount),
            SnapshotCatchUpEntries = r.GetValue(SnapshotCatchUpEntries),
            HeartbeatIntervalMs = r.GetValue(HeartbeatInterval),
            ElectionTimeoutMs = r.GetValue(ElectionTimeout),
            MaxWalFiles = r.GetValue(MaxWals),
            MaxSnapFiles = r.GetValue(MaxSnapshots),
            MaxRequestBytes = r.GetValue(MaxRequestBytes),
            PreVote = r.GetValue(PreVote),
            StrictReconfigCheck = r.GetValue(StrictReconfigCheck),
            UnsafeNoFsync = r.GetValue(UnsafeNoFsync),
        };
        TlsFlags.Apply(r, o);
        var errors = new List<string>();
        // etcd's ErrUnsetAdvertiseClientURLsFlag.
        if (Explicit(r, ListenClientUrls) && !Explicit(r, AdvertiseClientUrls))
            errors.Add("--advertise-client-urls is required when --listen-client-urls is set explicitly");
        errors.AddRange(o.Validate(FlagOf));
        return (errors.Count == 0 ? o : null, errors);
    }

    /// <summary>
    /// The key-value service's flags (etcd's <c>--quota-backend-bytes</c>, <c>--auto-compaction-mode</c>,
    /// <c>--auto-compaction-retention</c>, <c>--max-concurrent-streams</c>, and the client port's other
    /// limits) as a configuration of its options, or the reasons they are unusable.
    /// </summary>
    public static (Action<Raft.Kv.KvServiceOptions>? Configure, IReadOnlyList<string> Errors) KvOptions(ParseResult r)
    {
        var quota = r.GetValue(QuotaBackendBytes);
        var mode = r.GetValue(AutoCompactionMode)!;
        var retention = r.GetValue(AutoCompactionRetention)!;
        try
        {
            Raft.Kv.Compaction.AutoCompactor.FromOptions(mode, retention, DateTimeOffset.UnixEpoch);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            return (null, [$"{AutoCompactionMode.Name} {mode} {AutoCompactionRetention.Name} {retention}: {ex.Message}"]);
        }
        var errors = new List<string>();
        var batchIntervalText = r.GetValue(BackendBatchInterval)!;
        var batchInterval = TimeSpan.Zero;
        try
        {
            // etcd takes 0 for its default.
            batchInterval = batchIntervalText.Trim() == "0" ? TimeSpan.FromMilliseconds(100) : Raft.Kv.Compaction.AutoCompactor.ParseDuration(batchIntervalText);
            if (batchInterval <= TimeSpan.Zero) errors.Add($"{BackendBatchInterval.Name} {batchIntervalText}: must be positive");
        }
        catch (FormatException ex)
        {
            errors.Add($"{BackendBatchInterval.Name}: {ex.Message}");
        }
        var batchLimit = r.GetValue(BackendBatchLimit);
        if (batchLimit < 0) errors.Add($"{BackendBatchLimit.Name} {batchLimit}: must not be negative");
        if (batchLimit == 0) batchLimit = 10_000;
        var authToken = r.GetValue(AuthToken)!;
        var authTokenTtl = r.GetValue(AuthTokenTtl);
        if (authTokenTtl <= 0) errors.Add($"{AuthTokenTtl.Name} {authTokenTtl}: must be positive");
        try
        {
            // Read here so a bad key file stops the start, as etcd's does.
            Raft.Kv.Auth.AuthTokenOptions.Create(authToken);
        }
        catch (Raft.Kv.Auth.AuthTokenOptionsException ex)
        {
            errors.Add($"{AuthToken.Name} {authToken}: {ex.Message}");
        }
        var bcryptCost = r.GetValue(BcryptCost);
        // Go's bcrypt: MinCost 4, MaxCost 31.
        if (bcryptCost is < 4 or > 31) errors.Add($"{BcryptCost.Name} {bcryptCost}: must be 4 to 31");
        var limits = ClientLimits(r, errors);
        var fileCheckpoints = r.GetValue(FileCheckpoints);
        if (errors.Count > 0) return (null, errors);
        return (kv =>
        {
            kv.BackendBatchInterval = batchInterval;
            kv.BackendBatchLimit = batchLimit;
            kv.QuotaBackendBytes = quota;
            kv.AutoCompactionMode = mode;
            kv.AutoCompactionRetention = retention;
            kv.AuthToken = authToken;
            kv.AuthTokenTtl = TimeSpan.FromSeconds(authTokenTtl);
            kv.BcryptCost = bcryptCost;
            kv.FileCheckpoints = fileCheckpoints;
            limits(kv);
        }, []);
    }

    // The client port's limits (etcd's --max-concurrent-streams, grpc-proxy's --max-recv-bytes and
    // --max-send-bytes, and ours); problems go to errors.
    private static Action<Raft.Kv.KvServiceOptions> ClientLimits(ParseResult r, List<string> errors)
    {
        // etcd's flag is a uint32; HTTP/2's setting is too, Kestrel's an int.
        var streams = (int)Math.Min(int.MaxValue, r.GetValue(MaxConcurrentStreams));
        if (streams < 1) errors.Add($"{MaxConcurrentStreams.Name} {streams}: must be at least 1");
        var recv = r.GetValue(MaxRecvBytes);
        if (recv < 0) errors.Add($"{MaxRecvBytes.Name} {recv}: must not be negative");
        var send = r.GetValue(MaxSendBytes);
        if (send < 1) errors.Add($"{MaxSendBytes.Name} {send}: must be positive");
        var connections = r.GetValue(MaxClientConnections);
        if (connections < 0) errors.Add($"{MaxClientConnections.Name} {connections}: must not be negative");
        var watches = r.GetValue(MaxWatchesPerConnection);
        if (watches < 0) errors.Add($"{MaxWatchesPerConnection.Name} {watches}: must not be negative");
        var headerText = r.GetValue(RequestHeaderTimeout)!;
        var header = TimeSpan.Zero;
        try
        {
            header = Raft.Kv.Compaction.AutoCompactor.ParseDuration(headerText);
            if (header <= TimeSpan.Zero) errors.Add($"{RequestHeaderTimeout.Name} {headerText}: must be positive");
        }
        catch (FormatException ex)
        {
            errors.Add($"{RequestHeaderTimeout.Name}: {ex.Message}");
        }
        return kv =>
        {
            kv.MaxConcurrentStreams = streams;
            kv.MaxRecvBytes = recv;
            kv.MaxSendBytes = send;
            kv.MaxClientConnections = connections;
            kv.MaxWatchesPerConnection = watches;
            kv.RequestHeaderTimeout = header;
        };
    }

    /// <summary>The node names options by their configuration keys (<c>Raft:InitialCluster</c>); the command names its flags.</summary>
    public static string WithFlags(string message) =>
        System.Text.RegularExpressions.Regex.Replace(message, RaftNodeOptions.SectionName + @":(\w+(?::\w+)?)", m => FlagOf(m.Groups[1].Value));

    /// <summary>
    /// The flag that sets the option whose property is <paramref name="property"/>, for error
    /// messages; an option without a flag keeps its configuration key.
    /// </summary>
    public static string FlagOf(string property) => property switch
    {
        nameof(RaftNodeOptions.Name) => Name.Name,
        nameof(RaftNodeOptions.DataDir) => DataDir.Name,
        nameof(RaftNodeOptions.ListenClientUrls) => ListenClientUrls.Name,
        nameof(RaftNodeOptions.AdvertiseClientUrls) => AdvertiseClientUrls.Name,
        nameof(RaftNodeOptions.ListenPeerUrls) => ListenPeerUrls.Name,
        nameof(RaftNodeOptions.InitialAdvertisePeerUrls) => InitialAdvertisePeerUrls.Name,
        nameof(RaftNodeOptions.InitialCluster) => InitialCluster.Name,
        nameof(RaftNodeOptions.InitialClusterState) => InitialClusterState.Name,
        nameof(RaftNodeOptions.InitialClusterToken) => InitialClusterToken.Name,
        nameof(RaftNodeOptions.ForceNewCluster) => ForceNewCluster.Name,
        nameof(RaftNodeOptions.SnapshotCount) => SnapshotCount.Name,
        nameof(RaftNodeOptions.SnapshotCatchUpEntries) => SnapshotCatchUpEntries.Name,
        nameof(RaftNodeOptions.HeartbeatIntervalMs) => HeartbeatInterval.Name,
        nameof(RaftNodeOptions.ElectionTimeoutMs) => ElectionTimeout.Name,
        nameof(RaftNodeOptions.MaxWalFiles) => MaxWals.Name,
        nameof(RaftNodeOptions.MaxSnapFiles) => MaxSnapshots.Name,
        nameof(RaftNodeOptions.MaxRequestBytes) => MaxRequestBytes.Name,
        nameof(RaftNodeOptions.PreVote) => PreVote.Name,
        nameof(RaftNodeOptions.StrictReconfigCheck) => StrictReconfigCheck.Name,
        nameof(RaftNodeOptions.UnsafeNoFsync) => UnsafeNoFsync.Name,
        _ => TlsFlags.FlagOf(property) ?? $"{RaftNodeOptions.SectionName}:{property}",
    };

    private static bool Explicit(ParseResult r, Option option) => r.GetResult(option) is OptionResult { Implicit: false };

    private static async Task<int> RunAsync(ParseResult result, CancellationToken ct)
    {
        var (options, errors) = Options(result);
        var (kv, kvErrors) = KvOptions(result);
        if (options is null || kv is null)
        {
            foreach (var e in errors.Concat(kvErrors))
                result.InvocationConfiguration.Error.WriteLine($"raft serve: {e}");
            return 2;
        }
        return await RunMemberAsync(options, Level(result.GetValue(LogLevel)!), null, result.InvocationConfiguration.Output, ct, result.InvocationConfiguration.Error, kv);
    }

    /// <summary>Runs one member until <paramref name="ct"/> fires or the member stops; returns the exit code.</summary>
    /// <param name="options">The member's options.</param>
    /// <param name="level">Least severe log level printed.</param>
    /// <param name="prefix">Text in front of every log line; null for none.</param>
    /// <param name="output">Where the start line goes.</param>
    /// <param name="ct">Stops the member.</param>
    /// <param name="error">Where a failed start is described (standard error by default).</param>
    /// <param name="kv">Configures the key-value service's options beyond those the node's options give.</param>
    public static async Task<int> RunMemberAsync(RaftNodeOptions options, LogLevel level, string? prefix, TextWriter output, CancellationToken ct, TextWriter? error = null,
        Action<Raft.Kv.KvServiceOptions>? kv = null)
    {
        error ??= Console.Error;
        WebApplication app;
        try
        {
            app = MemberHost.Build(options, level, prefix, kv);
        }
        catch (Exception ex) when (ex is ArgumentException or IOException or BadImageFormatException)
        {
            await error.WriteLineAsync($"raft serve: {WithFlags(ex.Message)}").ConfigureAwait(false);
            return 1;
        }
        await using (app.ConfigureAwait(false))
        {
            try
            {
                await app.StartAsync(ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NodeStartException or OptionsValidationException or ArgumentException or IOException or System.Net.Sockets.SocketException)
            {
                await error.WriteLineAsync($"raft serve{(prefix is null ? "" : $" [{prefix}]")}: {WithFlags(ex.Message)}").ConfigureAwait(false);
                return 1;
            }
            var node = app.Services.GetRequiredService<RaftNode>();
            // etcd's "received signal; shutting down": the host stops on these signals without saying which.
            var signalLog = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Raft.Serve");
            // The member serves: what reading the WAL and the store left behind goes back to the kernel.
            StartupHeapTrim.Run(signalLog);
            var signals = new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT }
                .Select(s => PosixSignalRegistration.Create(s, c => signalLog.LogInformation("received signal {Signal}; shutting down", c.Signal)))
                .ToList();
            using var unregister = new SignalRegistrations(signals);
            output.WriteLine($"{options.Name}: member {MemberIdsText(node.MemberId)} of cluster {MemberIdsText(node.ClusterId)}; clients {options.AdvertiseClientUrls}, peers {options.InitialAdvertisePeerUrls}, data {Path.GetFullPath(options.EffectiveDataDir)}");
            try
            {
                // Ctrl-C and SIGTERM reach both the command line (ct) and the host's own lifetime.
                await Task.WhenAny(Task.Delay(Timeout.Infinite, ct), Task.Delay(Timeout.Infinite, app.Lifetime.ApplicationStopping), node.Stopped)
                    .ConfigureAwait(false);
            }
            finally
            {
                await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            }
            var askedToStop = ct.IsCancellationRequested || app.Lifetime.ApplicationStopping.IsCancellationRequested;
            return node.Stopped.IsFaulted || (node.Stopped.IsCompleted && !askedToStop) ? 1 : 0;
        }
    }

    private sealed class SignalRegistrations(List<PosixSignalRegistration> all) : IDisposable
    {
        public void Dispose() => all.ForEach(r => r.Dispose());
    }

    private static string MemberIdsText(ulong id) => Raft.Shell.Node.Membership.MemberIds.Format(id);
}
