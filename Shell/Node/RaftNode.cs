using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Raft.Core;
using Raft.Interop;
using Raft.Shell.Node.Membership;

using Raft.Shell.Node.Advanced;

namespace Raft.Shell.Node;

/// <summary>The parts of a node that a host (or a test) may replace.</summary>
public sealed class RaftNodeDependencies
{
    /// <summary>Loggers; none by default.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Where the Raft.Node meter comes from; a meter of its own by default.</summary>
    public IMeterFactory? MeterFactory { get; init; }

    /// <summary>The planner; Core's <c>Planner.plan</c> by default. Tests hand in broken ones.</summary>
    public PlannerFunction? Planner { get; init; }

    /// <summary>The peer transport; TCP (<see cref="TcpPeerTransport"/>) by default.</summary>
    public PeerTransportFactory? Transport { get; init; }

    /// <summary>How to learn a running cluster's membership when joining it; over the peer protocol by default.</summary>
    public ClusterFetcher? FetchCluster { get; init; }

    /// <summary>Armed failpoints; by default those of the options, else of <c>RAFT_FAILPOINTS</c>.</summary>
    internal FailpointSet? Failpoints { get; init; }
}

/// <summary>
/// A running member (etcd's EtcdServer, reduced to the raft node): a runner that owns the RawNode,
/// an apply loop over the host's <see cref="IStateMachine"/>, a linearizable-read loop, the WAL and
/// snapshots, and the peer transport. Start one with <see cref="StartAsync"/>; stop it with
/// <see cref="StopAsync()"/> or by disposing it. This class is the public API and the wiring; the
/// work is done by <see cref="Proposer"/>, <see cref="MembershipAdmin"/> and <see cref="NodeLifecycle"/>.
/// </summary>
public sealed class RaftNode : IRaftNode, IAsyncDisposable, IRunnerSink, IApplySink
{
    private readonly RaftNodeOptions _options;
    private readonly StartedMember _start;
    private readonly ILogger _log;
    private readonly RequestIdGenerator _ids;
    private readonly AppliedIndexWait _appliedWait = new();
    // The highest commit index the WAL holds (the same wait, over what the runner saved).
    private readonly AppliedIndexWait _savedCommit = new();
    private readonly LeaderState _leader = new();
    private readonly RaftRunner _runner;
    private readonly ApplyLoop _apply;
    private readonly ReadIndexLoop _reads;
    private readonly NodeLifecycle _lifecycle;
    private readonly Proposer _proposer;
    private readonly MembershipAdmin _admin;
    private readonly NodeParts _parts;
    private volatile ClusterView _cluster;

    private RaftNode(RaftNodeOptions options, StartedMember start, IStateMachine stateMachine, RaftNodeDependencies deps)
    {
        _options = options;
        _start = start;
        var loggers = deps.LoggerFactory ?? NullLoggerFactory.Instance;
        _log = loggers.CreateLogger("Raft.Node");
        Metrics = new NodeMetrics(deps.MeterFactory);
        _ids = new RequestIdGenerator(start.Id, DateTimeOffset.UtcNow);
        _cluster = start.Cluster;
        var failpoints = deps.Failpoints
            ?? (string.IsNullOrEmpty(options.Failpoints) ? FailpointSet.FromEnvironment : FailpointSet.TryParse(options.Failpoints, out _));
        Failpoints = failpoints;
        var waits = new RequestWaits();
        var transportFactory = deps.Transport ?? TcpPeerTransport.Factory(deps.LoggerFactory, deps.MeterFactory, o => o.Tls = options.PeerTls);
        var transport = transportFactory(new PeerTransportContext(start.Id, start.ClusterId, RaftNodeOptions.SplitUrls(options.ListenPeerUrls), this));
        var settings = new RunnerSettings(
            options.HeartbeatInterval,
            deps.Planner ?? CoreAdapter.Plan,
            start.Storage,
            transport,
            failpoints,
            _log,
            Metrics,
            Defaults.MaxPendingMessages,
            options.MaxWalFiles,
            options.MaxSnapFiles,
            options.SnapshotCatchUpEntries);
        if (deps.Planner is not null)
            _log.LogWarning("running with a planner other than Core's");
        _runner = new RaftRunner(start.RawNode, settings, this);
        _apply = new ApplyLoop(start.Id, start.Snapshot, start.Cluster, stateMachine, _runner, transport, waits, _appliedWait,
            Metrics, _log, this, CoreAdapter.SnapshotSettings(options.SnapshotCount, options.SnapshotCatchUpEntries, SnapshotScheduler.PauseFactor), failpoints,
            start.DurableApplied, options.EffectiveDataDir);
        _reads = new ReadIndexLoop(_runner, _ids, _appliedWait, () => _leader.LeaderChanged,
            () => _leader.FirstCommitInTerm, () => _leader.Lead != 0, options.RequestTimeout, Metrics, _log);
        _lifecycle = new NodeLifecycle(_log, start.Id);
        _proposer = new Proposer(_runner, waits, Metrics, _leader, _lifecycle, options.RequestTimeout);
        _admin = new MembershipAdmin(options, start.Id, () => _cluster, transport, _runner, _proposer, _ids, waits, _leader, _lifecycle, _log);
        _parts = new NodeParts(_runner, _apply, _reads, transport, start.Storage, waits, _appliedWait, _savedCommit);
        _appliedWait.Trigger(start.Snapshot.Metadata.Index);
        var commitAtStart = CoreAdapter.Status(start.RawNode).HardState.Commit;
        _savedCommit.Trigger(commitAtStart);
        AppliedCommittedAtStart = _appliedWait.WaitAsync(commitAtStart);
        Metrics.SetApplied(start.Snapshot.Metadata.Index);
    }

    /// <summary>
    /// Starts a member: bootstraps, joins or restarts from <paramref name="options"/>' data
    /// directory, restores the state machine from the newest snapshot, and starts the loops.
    /// </summary>
    /// <exception cref="ArgumentException">The options are invalid (the message lists every problem).</exception>
    /// <exception cref="NodeStartException">The member cannot start (data, cluster or disk problem).</exception>
    public static async Task<RaftNode> StartAsync(
        RaftNodeOptions options,
        IStateMachine stateMachine,
        RaftNodeDependencies? dependencies = null,
        CancellationToken cancellationToken = default) =>
        await StartMakingStateMachineAsync(options, () => stateMachine, dependencies, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// <see cref="StartAsync(RaftNodeOptions, IStateMachine, RaftNodeDependencies?, CancellationToken)"/>
    /// with the state machine made by <paramref name="createStateMachine"/>: on a restart it runs
    /// while the WAL is read (a persistent state machine opens its store then), else before anything.
    /// </summary>
    internal static async Task<RaftNode> StartMakingStateMachineAsync(
        RaftNodeOptions options,
        Func<IStateMachine> createStateMachine,
        RaftNodeDependencies? dependencies,
        CancellationToken cancellationToken)
    {
        var errors = options.Validate();
        if (errors.Count != 0)
            throw new ArgumentException("invalid raft node options:\n  " + string.Join("\n  ", errors), nameof(options));
        dependencies ??= new RaftNodeDependencies();
        var log = (dependencies.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Raft.Node");
        var machine = new Lazy<IStateMachine>(createStateMachine, LazyThreadSafetyMode.ExecutionAndPublication);
        var start = await NodeStart.StartAsync(options, machine, dependencies.FetchCluster ?? PeerClusterFetcher.Create(tls: options.PeerTls), log, cancellationToken).ConfigureAwait(false);
        RaftNode node;
        try
        {
            node = new RaftNode(options, start, machine.Value, dependencies);
        }
        catch
        {
            start.Storage.Close();
            if (start.IsNew)
                NodeStart.DiscardNew(options.EffectiveDataDir, log);
            throw;
        }
        node._lifecycle.Start(node._parts, start.Peers, NodeLifecycle.TicksToAdvance(start.VotingMembersAtStart, options.ElectionTicks),
            ct => node._lifecycle.PublishAsync(node._proposer, node._ids, start.ClusterId, options, ct));
        return node;
    }

    // ------------------------------------------------------------------------------------------
    // IRaftNode.

    /// <inheritdoc/>
    public ulong MemberId => _start.Id;

    /// <inheritdoc/>
    public ulong ClusterId => _start.ClusterId;

    /// <summary>The node's metrics (the Raft.Node meter).</summary>
    internal NodeMetrics Metrics { get; }

    /// <summary>The failpoints armed in this node, if any.</summary>
    internal FailpointSet? Failpoints { get; }

    /// <summary>The options the node runs with.</summary>
    public RaftNodeOptions Options => _options;

    /// <summary>The applied membership, with the removed ids.</summary>
    internal ClusterView Cluster => _cluster;

    /// <inheritdoc/>
    public IReadOnlyList<Interop.Member> Members => _cluster.Members.Values.Select(m => m.ToApi()).ToArray();

    /// <summary>The highest index applied to the state machine.</summary>
    public ulong AppliedIndex => _appliedWait.Applied;

    /// <summary>
    /// Completes once this member has applied every entry its log had committed when it started.
    /// Until then its state may be older than what it answered before a restart, so local
    /// (serializable) reads wait for it. Faults if the node stops first.
    /// </summary>
    public Task AppliedCommittedAtStart { get; }

    /// <summary>The highest index known committed.</summary>
    public ulong CommittedIndex => _leader.Committed;

    /// <summary>The current leader's id, 0 when none is known.</summary>
    public ulong Leader => _leader.Lead;

    /// <summary>Completes when the node has stopped; faulted when it stopped because of a failure.</summary>
    public Task Stopped => _lifecycle.Stopped;

    /// <inheritdoc/>
    public event EventHandler<LeaderChangedEventArgs>? LeaderChanged;

    /// <inheritdoc/>
    public NodeStatus Status
    {
        get
        {
            var s = CoreAdapter.Status(_runner.Current);
            return new NodeStatus(_start.Id, _start.ClusterId, s.HardState.Term, s.HardState.Vote, s.Lead, s.Role,
                s.HardState.Commit, AppliedIndex, s.SnapshotIndex, s.IsLearner);
        }
    }

    /// <summary>etcd's raft status (with every peer's progress on a leader) as etcd's JSON.</summary>
    public string RaftStatusJson => CoreAdapter.StatusJson(_runner.Current);

    /// <summary>On a leader, every member's progress as its tracker has it (in id order); empty elsewhere.</summary>
    public IReadOnlyList<PeerProgress> Progress => CoreAdapter.Progress(_runner.Current);

    /// <summary>The directory of this member's WAL segments.</summary>
    public string WalDirectory => Storage.NodeStorage.WalDir(_options.EffectiveDataDir);

    /// <summary>Where the WAL appends (its newest segment and the bytes of it in use); null before it can append.</summary>
    internal Wal.WalTailPosition? WalTail => _start.Storage.Wal.TailPosition;

    /// <summary>The directory of this member's snapshot files.</summary>
    public string SnapDirectory => Storage.NodeStorage.SnapDir(_options.EffectiveDataDir);

    /// <inheritdoc/>
    public Task<object?> ProposeAsync(ReadOnlyMemory<byte> command, CancellationToken cancellationToken = default)
    {
        // Failures come in the task, as from an async method.
        try
        {
            _lifecycle.ThrowIfStopping();
        }
        catch (RaftException ex)
        {
            return Task.FromException<object?>(ex);
        }
        if (command.Length + EntryData.Overhead > _options.MaxRequestBytes)
            return Task.FromException<object?>(new RaftException(RaftErrorCode.RequestTooLarge, "etcdserver: request is too large"));
        var id = _ids.Next();
        return _proposer.ProposeDataAsync(id, EntryData.Command(id, command.Span), cancellationToken);
    }

    /// <summary>
    /// A linearizable read barrier (see <see cref="IRaftNode.ReadIndexAsync"/>). It completes only
    /// once the member is ready (<see cref="WhenReadyAsync"/>): no read is answered from a state
    /// older than the one it had before it stopped.
    /// </summary>
    public Task ReadIndexAsync(CancellationToken cancellationToken = default)
    {
        _lifecycle.ThrowIfStopping();
        return IsReady ? _reads.WaitAsync(cancellationToken) : ReadWhenReadyAsync(cancellationToken);
    }

    private async Task ReadWhenReadyAsync(CancellationToken cancellationToken)
    {
        await WhenReadyAsync(cancellationToken).ConfigureAwait(false);
        await _reads.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Whether the member is ready to answer reads (etcd's readiness): it has applied everything it
    /// had applied before it stopped. That is every entry its log had committed when it started,
    /// with the commit index raised at the start to what a persistent state machine holds durably
    /// (<see cref="IPersistentStateMachine.DurableAppliedIndex"/>).
    /// </summary>
    public bool IsReady => AppliedCommittedAtStart.IsCompletedSuccessfully;

    /// <summary>
    /// Completes when the member is ready to answer reads (<see cref="IsReady"/>); a host answers no
    /// read, serializable or not, before (a /readyz endpoint waits for it or reports it). Faults
    /// if the node stops first.
    /// </summary>
    public Task WhenReadyAsync(CancellationToken cancellationToken = default) =>
        AppliedCommittedAtStart.WaitAsync(cancellationToken);

    /// <summary>Whether a local read now needs no wait (<see cref="WhenLocalReadIsDurableAsync"/>).</summary>
    public bool LocalReadIsDurable => IsReady && _savedCommit.Applied >= AppliedIndex;

    /// <summary>
    /// Completes when a local (serializable) read may be answered without ever going back in
    /// revision: the member is ready (<see cref="WhenReadyAsync"/>), and the WAL holds a commit
    /// index covering everything applied when the read arrived. The apply loop runs ahead of the
    /// save of the commit that allowed it (as etcd's does), so without this wait a member killed
    /// in between would restart behind a state it had already answered from. Faults if the node
    /// stops first.
    /// </summary>
    public async Task WhenLocalReadIsDurableAsync(CancellationToken cancellationToken = default)
    {
        await WhenReadyAsync(cancellationToken).ConfigureAwait(false);
        var applied = AppliedIndex;
        if (_savedCommit.Applied < applied)
            await _savedCommit.WaitAsync(applied).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public Task<Interop.Member> AddMemberAsync(IReadOnlyList<string> peerUrls, bool isLearner, CancellationToken cancellationToken = default) =>
        _admin.AddMemberAsync(peerUrls, isLearner, cancellationToken);

    /// <inheritdoc/>
    public Task RemoveMemberAsync(ulong memberId, CancellationToken cancellationToken = default) =>
        _admin.RemoveMemberAsync(memberId, cancellationToken);

    /// <inheritdoc/>
    public Task PromoteMemberAsync(ulong memberId, CancellationToken cancellationToken = default) =>
        _admin.PromoteMemberAsync(memberId, cancellationToken);

    /// <inheritdoc/>
    public Task UpdateMemberAsync(ulong memberId, IReadOnlyList<string> peerUrls, CancellationToken cancellationToken = default) =>
        _admin.UpdateMemberAsync(memberId, peerUrls, cancellationToken);

    /// <inheritdoc/>
    public Task TransferLeadershipAsync(ulong transferee, CancellationToken cancellationToken = default) =>
        _admin.TransferLeadershipAsync(transferee, cancellationToken);

    // ------------------------------------------------------------------------------------------
    // For the transport.

    /// <summary>A message from a peer (etcd's Process); false when the node is too busy and it was dropped.</summary>
    public bool TryProcess(Message message)
    {
        if (_cluster.IsRemoved(message.From))
        {
            _log.LogWarning("rejected Raft message from removed member {From:x}", message.From);
            return true;
        }
        return _runner.TryStep(message);
    }

    /// <summary>Whether <paramref name="id"/> was removed from the cluster.</summary>
    public bool IsIdRemoved(ulong id) => _cluster.IsRemoved(id);

    /// <summary>The peer transport this node sends through (tests wait on its peers' state).</summary>
    internal IPeerTransport PeerTransport => _parts.Transport;

    /// <summary>Whether <paramref name="id"/> is a member of the applied membership (or of the initial one).</summary>
    public bool IsMember(ulong id) => _cluster.Member(id) is not null || _start.Peers.Any(p => p.Id == id);

    /// <summary>The last message to <paramref name="id"/> could not be sent.</summary>
    public void ReportUnreachable(ulong id) => _runner.Post(new UnreachableInput(id));

    /// <summary>Whether the snapshot sent to <paramref name="id"/> arrived.</summary>
    public void ReportSnapshot(ulong id, SnapshotStatus status)
    {
        _runner.Post(new SnapshotStatusInput(id, status));
        _apply.SnapshotSent(CoreAdapter.IsFinished(status));
    }

    /// <summary>A peer told us this member was removed from the cluster: stop, as etcd does.</summary>
    public void ReportRemoved(ulong reportedBy)
    {
        _log.LogError("member {Self:x} was removed from the cluster (reported by {By:x}); the data-dir used by this member must be removed", _start.Id, reportedBy);
        _ = _lifecycle.StopAsync(new RaftException(RaftErrorCode.Stopped, "the member has been permanently removed from the cluster"));
    }

    // ------------------------------------------------------------------------------------------
    // Sinks of the runner and the apply loop.

    void IRunnerSink.OnLeaderUpdate(LeaderUpdate update, ulong term)
    {
        var previous = _leader.Update(update);
        Metrics.SetLeader(update.Lead != 0, update.IsLeader);
        if (update.NewLeader)
            Metrics.LeaderChanged();
        if (previous != update.Lead && LeaderChanged is { } handler)
        {
            var args = new LeaderChangedEventArgs(previous, update.Lead, term);
            ThreadPool.QueueUserWorkItem(_ =>
            {
                try
                {
                    handler(this, args);
                }
                catch (Exception ex)
                {
                    _log.LogError(ex, "a LeaderChanged handler threw");
                }
            });
        }
    }

    void IRunnerSink.OnReadState(ReadState state) => _reads.OnReadState(state);

    void IRunnerSink.OnApply(ApplyItem item) => _apply.Enqueue(item);

    void IRunnerSink.WakeApply() => _apply.Signal();

    void IRunnerSink.OnCommittedIndex(ulong index) => _leader.OnCommitted(index);

    void IRunnerSink.OnCommitSaved(ulong commit) => _savedCommit.Trigger(commit);

    void IRunnerSink.OnRedirectSnapshot(Message message) => _apply.OfferMsgSnap(message);

    bool IRunnerSink.IsRemoved(ulong id) => _cluster.IsRemoved(id);

    void IRunnerSink.OnFatal(Exception error) => _ = _lifecycle.StopAsync(error);

    void IApplySink.OnCluster(ClusterView cluster) => _cluster = cluster;

    void IApplySink.OnFirstCommitInTerm() => _leader.OnFirstCommitInTerm();

    void IApplySink.OnRemovedSelf()
    {
        _log.LogWarning("the member has been permanently removed from the cluster; stopping");
        // Like etcd's stopWithDelay: let the runner send what it has (a leader's commit of the
        // removal) before stopping.
        _ = Task.Delay(TimeSpan.FromSeconds(1)).ContinueWith(
            _ => _lifecycle.StopAsync(new RaftException(RaftErrorCode.Stopped, "the member has been permanently removed from the cluster")),
            TaskScheduler.Default);
    }

    void IApplySink.OnFatal(Exception error) => _ = _lifecycle.StopAsync(error);

    // ------------------------------------------------------------------------------------------
    // Stopping.

    /// <summary>
    /// Stops gracefully: refuses new requests, ends the runner after the Ready in hand, lets the
    /// apply loop finish what it was handed, stops the transport and closes the WAL.
    /// </summary>
    public Task StopAsync() => _lifecycle.StopAsync(null);

    /// <summary>Stops the node (see <see cref="StopAsync()"/>) and releases its meter.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        Metrics.Dispose();
    }
}
