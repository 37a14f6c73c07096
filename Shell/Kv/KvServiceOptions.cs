namespace Raft.Kv;

/// <summary>Options of the key-value service's HTTP API.</summary>
public sealed class KvServiceOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Kv";

    /// <summary>
    /// How long a write, a linearizable read or a membership change may wait for the cluster before it
    /// fails with "no leader" (when none is known) or "request timed out". etcd's default is
    /// 5 s + 2 × election timeout = 7 s.
    /// </summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(7);

    /// <summary>
    /// Largest encoded command accepted ("etcdserver: request is too large" above it); etcd's
    /// --max-request-bytes, 1.5 MiB by default. Requests more than 512 KiB above it are refused
    /// before they are decoded, as etcd's gRPC receive limit refuses them.
    /// </summary>
    public int MaxRequestBytes { get; set; } = 1536 * 1024;

    /// <summary>
    /// gRPC's receive limit on the client port (etcd's grpc-proxy <c>--max-recv-bytes</c>): a larger
    /// message is refused with ResourceExhausted before it is decoded, and a gateway body that would
    /// decode to more is refused unread. 0 (the default) means etcd's server limit,
    /// <see cref="MaxRequestBytes"/> plus 512 KiB for the envelope (<see cref="EffectiveMaxRecvBytes"/>).
    /// </summary>
    public int MaxRecvBytes { get; set; }

    /// <summary>The receive limit in force: <see cref="MaxRecvBytes"/>, or <see cref="MaxRequestBytes"/> + 512 KiB when it is 0.</summary>
    public int EffectiveMaxRecvBytes => MaxRecvBytes > 0 ? MaxRecvBytes : (int)Math.Min(int.MaxValue, (long)MaxRequestBytes + Http.GatewayContext.GrpcOverheadBytes);

    /// <summary>
    /// gRPC's send limit (etcd's grpc-proxy <c>--max-send-bytes</c>): an answer larger than this fails
    /// with ResourceExhausted instead of being sent. etcd's server sends up to 2 GiB - 1 (math.MaxInt32),
    /// the default; a range over a large prefix can be that big, and clients bound what they take.
    /// </summary>
    public int MaxSendBytes { get; set; } = int.MaxValue;

    /// <summary>
    /// etcd's <c>--max-concurrent-streams</c>: HTTP/2 streams (gRPC calls) one client connection may
    /// have open at once (SETTINGS_MAX_CONCURRENT_STREAMS); a stream past it is reset with
    /// REFUSED_STREAM, and well-behaved clients wait or open another connection instead. etcd leaves it
    /// unlimited (2^32 - 1); 1,000 here, ten times Kestrel's default, so one connection cannot hold an
    /// unbounded number of calls.
    /// </summary>
    public int MaxConcurrentStreams { get; set; } = 1000;

    /// <summary>
    /// Client connections each client port holds open at once (ours; etcd has no such flag). One more
    /// is closed on accept and logged with this limit's name. 0: no limit.
    /// </summary>
    public int MaxClientConnections { get; set; } = 10_000;

    /// <summary>
    /// How long a client may take to send a request's headers (Kestrel's RequestHeadersTimeout; ours,
    /// etcd has none): an HTTP/1.1 client still sending them is answered 408 and closed, an HTTP/2 one
    /// that leaves a header block open is closed, and a connection that has not sent its first bytes
    /// (HTTP/2's preface or a request line) by then is closed. Against slowloris clients.
    /// </summary>
    public TimeSpan RequestHeaderTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Most watchers one client connection may hold across its watch streams (ours; etcd has no such
    /// limit). A create past it is refused as etcd refuses a create (created and cancelled, with a
    /// reason naming the limit); the stream and its other watchers go on. 0: no limit.
    /// </summary>
    public int MaxWatchesPerConnection { get; set; } = 10_000;

    /// <summary>The server version that the maintenance status reports: the etcd API version this service speaks.</summary>
    public string Version { get; set; } = "3.5.0";

    /// <summary>
    /// Opens the database that holds the store's history (<see cref="Backend.KvBackends"/>); the node
    /// then restores the store from raft snapshots as an in-memory one. When null, the store is
    /// <see cref="Backend.KvBackends.OpenMember"/> in <see cref="DataDir"/>, a persistent state
    /// machine for the node; neither set: in memory without durability. Read once, when the store is created.
    /// </summary>
    public Func<Backend.IKvBackend>? OpenBackend { get; set; }

    /// <summary>
    /// The member's data directory: the store is kept in its <c>member/kv</c> and the node replays
    /// only the entries the store lacks, sends checkpoints of it to lagging followers and installs
    /// theirs. Null: the node's <c>RaftNodeOptions.DataDir</c> when set.
    /// </summary>
    public string? DataDir { get; set; }

    /// <summary>
    /// etcd's --quota-backend-bytes: when a put or txn would take the backend past this size, the
    /// member raises the NOSPACE alarm through Raft and writes are refused until it is cleared
    /// (<c>/v3/maintenance/alarm</c>). 0 means etcd's default of 2 GiB; below 0, no quota.
    /// </summary>
    public long QuotaBackendBytes { get; set; }

    /// <summary>
    /// etcd's --backend-batch-interval: the longest time the store keeps applied changes in its
    /// open write transaction before committing them (100 ms). What was applied but not committed
    /// is applied again from the WAL after a crash.
    /// </summary>
    public TimeSpan BackendBatchInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>etcd's --backend-batch-limit: the most changes the store keeps in its open write transaction (10,000).</summary>
    public int BackendBatchLimit { get; set; } = 10_000;

    /// <summary>
    /// What this member sends a follower that lags behind its compacted log: LMDB's own compacted
    /// copy of the database file, which the follower renames into place (true, the default), or
    /// the logical key-value dump, which it loads pair by pair (false). The dump is for clusters
    /// whose members run different LMDB builds (LMDB 1.x and 0.9 do not read each other's files);
    /// a member installs either, whatever it sends.
    /// </summary>
    public bool FileCheckpoints { get; set; } = true;

    /// <summary>etcd's --bcrypt-cost: the cost of the password hashes (4 to 31; 10 as etcd).</summary>
    public int BcryptCost { get; set; } = Auth.AuthStore.DefaultBcryptCost;

    /// <summary>
    /// etcd's --auth-token: "simple" (the default) or "jwt,pub-key=FILE,priv-key=FILE,sign-method=RS256,ttl=5m"
    /// (see <see cref="Auth.AuthTokenOptions"/>); every member of a cluster needs the same keys to take
    /// each other's tokens.
    /// </summary>
    public string AuthToken { get; set; } = Auth.AuthTokenOptions.Simple;

    /// <summary>etcd's --auth-token-ttl: how long a simple token lives without use (300 s).</summary>
    public TimeSpan AuthTokenTtl { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>etcd's --auto-compaction-mode: "periodic" (retention is a duration) or "revision" (a number of revisions).</summary>
    public string AutoCompactionMode { get; set; } = "periodic";

    /// <summary>
    /// etcd's --auto-compaction-retention: "0" (the default) keeps all history; in periodic mode a
    /// duration such as "1h" or "30m" (a bare number is hours), in revision mode a number of revisions.
    /// </summary>
    public string AutoCompactionRetention { get; set; } = "0";

    /// <summary>The meters whose instruments <c>GET /metrics</c> exports.</summary>
    public IList<string> MetricsMeterNames { get; } = new List<string> { "Raft.Node", KvMetrics.MeterName };
}
