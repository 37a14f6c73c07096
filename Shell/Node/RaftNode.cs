using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Raft.Core;
using Raft.Interop;
using Raft.Shell.Node.Membership;

namespace Raft.Shell.Node;

/// <summary>What a transport is built from: who this member is and where its messages go.</summary>
/// <param name="MemberId">This member.</param>
/// <param name="ClusterId">Its cluster.</param>
/// <param name="ListenPeerUrls">Where to listen for peers.</param>
/// <param name="Node">The node that receives messages and reports.</param>
public sealed record PeerTransportContext(ulong MemberId, ulong ClusterId, IReadOnlyList<string> ListenPeerUrls, RaftNode Node);

/// <summary>Builds the peer transport once the member's identity is known.</summary>
public delegate IPeerTransport PeerTransportFactory(PeerTransportContext context);

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
    public FailpointSet? Failpoints { get; init; }
}

/// <summary>
/// A running member (etcd's EtcdServer, reduced to the raft node): a runner that owns the RawNode,
/// an apply loop over the host's <see cref="IStateMachine"/>, a linearizable-read loop, the WAL and
/// snapshots, and the peer transport. Start one with <see cref="StartAsync"/>; stop it with
/// <see cref="StopAsync()"/> or by disposing it.
/// </summary>
public sealed class RaftNode : IRaftNode, IAsyncDisposable, IRunnerSink, IApplySink
{
    private readonly RaftNodeOptions _options;
    private readonly StartedMember _start;
    private readonly ILogger _log;
    private readonly RequestIdGenerator _ids;
    private readonly RequestWaits _waits = new();
    private readonly AppliedIndexWait _appliedWait = new();
    private readonly RaftRunner _runner;
    private readonly ApplyLoop _apply;
    private readonly ReadIndexLoop _reads;
    private readonly IPeerTransport _transport;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _stopLock = new();
    private Task? _stopTask;
    private Task _publish = Task.CompletedTask;
    private volatile ClusterView _cluster;
    private TaskCompletionSource _leaderChanged = NewSignal();
    private TaskCompletionSource _firstCommitInTerm = NewSignal();
    private ulong _lead;
    private ulong _committed;
    private Exception? _failure;

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
        var transportFactory = deps.Transport ?? TcpPeerTransport.Factory(deps.LoggerFactory, deps.MeterFactory);
        _transport = transportFactory(new PeerTransportContext(start.Id, start.ClusterId, RaftNodeOptions.SplitUrls(options.ListenPeerUrls), this));
        var settings = new RunnerSettings(
            options.HeartbeatInterval,
            deps.Planner ?? ((input, state) => Planner.plan(input, state)),
            start.Storage,
            _transport,
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
        _apply = new ApplyLoop(start.Id, start.Snapshot, start.Cluster, stateMachine, _runner, _transport, _waits, _appliedWait,
            Metrics, _log, this, CoreAdapter.SnapshotSettings(options.SnapshotCount, options.SnapshotCatchUpEntries, SnapshotScheduler.PauseFactor));
        _reads = new ReadIndexLoop(_runner, _ids, _appliedWait, () => Volatile.Read(ref _leaderChanged).Task,
            () => Volatile.Read(ref _firstCommitInTerm).Task, () => Volatile.Read(ref _lead) != 0, options.RequestTimeout, Metrics, _log);
        _appliedWait.Trigger(start.Snapshot.Metadata.Index);
        Metrics.SetApplied(start.Snapshot.Metadata.Index);
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

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
        CancellationToken cancellationToken = default)
    {
        var errors = options.Validate();
        if (errors.Count != 0)
            throw new ArgumentException("invalid raft node options:\n  " + string.Join("\n  ", errors), nameof(options));
        dependencies ??= new RaftNodeDependencies();
        var log = (dependencies.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Raft.Node");
        var start = await NodeStart.StartAsync(options, stateMachine, dependencies.FetchCluster ?? PeerClusterFetcher.Create(), log, cancellationToken).ConfigureAwait(false);
        RaftNode node;
        try
        {
            node = new RaftNode(options, start, stateMachine, dependencies);
        }
        catch
        {
            start.Storage.Close();
            if (start.IsNew)
                NodeStart.DiscardNew(options.EffectiveDataDir, log);
            throw;
        }
        node.Run();
        return node;
    }

    private void Run()
    {
        foreach (var (id, urls) in _start.Peers)
            _transport.AddPeer(id, urls);
        _apply.Start();
        _runner.Start();
        _reads.Start();
        AdjustTicks();
        _publish = Task.Run(PublishAsync);
    }

    /// <summary>
    /// etcd's adjustTicks: a member alone campaigns almost at once; a member of a larger cluster
    /// fast-forwards all but two ticks of its first election timeout, so a fresh cluster elects
    /// a leader quickly while pre-vote keeps a restarting member from disturbing a live one.
    /// </summary>
    private void AdjustTicks()
    {
        var ticks = _start.VotingMembersAtStart <= 1 ? _options.ElectionTicks - 1 : _options.ElectionTicks - 2;
        if (ticks > 0)
            _runner.Post(new AdvanceTicksInput(ticks));
    }

    /// <summary>
    /// etcd's publish: proposes this member's name and client URLs until they are applied, so the
    /// cluster knows the member has started.
    /// </summary>
    private async Task PublishAsync()
    {
        var ct = _stopping.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var id = _ids.Next();
                var data = EntryData.MemberAttributes(id, _start.Id, _options.Name, RaftNodeOptions.SplitUrls(_options.AdvertiseClientUrls));
                await ProposeDataAsync(id, data, ct).ConfigureAwait(false);
                _log.LogInformation("published local member {Id:x} to cluster {ClusterId:x}: name {Name}, client URLs {Urls}",
                    _start.Id, _start.ClusterId, _options.Name, _options.AdvertiseClientUrls);
                return;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (RaftException ex) when (ex.Code == RaftErrorCode.Stopped)
            {
                return;
            }
            catch (RaftException ex)
            {
                _log.LogWarning("failed to publish local member to cluster through raft: {Error}", ex.Message);
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // IRaftNode.

    /// <inheritdoc/>
    public ulong MemberId => _start.Id;

    /// <inheritdoc/>
    public ulong ClusterId => _start.ClusterId;

    /// <summary>The node's metrics (the Raft.Node meter).</summary>
    public NodeMetrics Metrics { get; }

    /// <summary>The failpoints armed in this node, if any.</summary>
    public FailpointSet? Failpoints { get; }

    /// <summary>The options the node runs with.</summary>
    public RaftNodeOptions Options => _options;

    /// <summary>The applied membership, with the removed ids.</summary>
    public ClusterView Cluster => _cluster;

    /// <inheritdoc/>
    public IReadOnlyList<Interop.Member> Members => _cluster.Members.Values.Select(m => m.ToApi()).ToArray();

    /// <summary>The highest index applied to the state machine.</summary>
    public ulong AppliedIndex => _appliedWait.Applied;

    /// <summary>The highest index known committed.</summary>
    public ulong CommittedIndex => Volatile.Read(ref _committed);

    /// <summary>The current leader's id, 0 when none is known.</summary>
    public ulong Leader => Volatile.Read(ref _lead);

    /// <summary>Completes when the node has stopped; faulted when it stopped because of a failure.</summary>
    public Task Stopped => _stopped.Task;

    /// <inheritdoc/>
    public event EventHandler<LeaderChangedEventArgs>? LeaderChanged;

    /// <inheritdoc/>
    public NodeStatus Status
    {
        get
        {
            var rn = _runner.Current;
            var b = RawNodeModule.basicStatus(rn);
            var role = b.SoftState.RaftState.Tag switch
            {
                StateType.Tags.StateLeader => NodeRole.Leader,
                StateType.Tags.StateCandidate => NodeRole.Candidate,
                StateType.Tags.StatePreCandidate => NodeRole.PreCandidate,
                _ => NodeRole.Follower,
            };
            var snapIndex = MemoryStorageModule.snapshot(RawNodeModule.storage(rn)).Metadata.Index;
            return new NodeStatus(_start.Id, _start.ClusterId, b.HardState.Term, b.HardState.Vote, b.SoftState.Lead, role,
                b.HardState.Commit, AppliedIndex, snapIndex, RawNodeModule.raft(rn).IsLearner);
        }
    }

    /// <summary>etcd's raft status (with every peer's progress on a leader) as etcd's JSON.</summary>
    public string RaftStatusJson => StatusModule.toJson(RawNodeModule.status(_runner.Current));

    /// <inheritdoc/>
    public Task<object?> ProposeAsync(ReadOnlyMemory<byte> command, CancellationToken cancellationToken = default)
    {
        // Failures come in the task, as from an async method.
        try
        {
            ThrowIfStopping();
        }
        catch (RaftException ex)
        {
            return Task.FromException<object?>(ex);
        }
        if (command.Length + EntryData.Overhead > _options.MaxRequestBytes)
            return Task.FromException<object?>(new RaftException(RaftErrorCode.RequestTooLarge, "etcdserver: request is too large"));
        var id = _ids.Next();
        return ProposeDataAsync(id, EntryData.Command(id, command.Span), cancellationToken);
    }

    /// <summary>
    /// etcd's processInternalRaftRequestOnce: register the wait, propose, wait for the apply loop,
    /// within the request timeout; the wait is dropped whatever happens.
    /// </summary>
    private async Task<object?> ProposeDataAsync(ulong id, byte[] data, CancellationToken ct)
    {
        var applied = _waits.RegisterSource(id);
        var input = new ProposeInput(data, applied);
        Metrics.ProposalPending();
        try
        {
            return await RunProposalAsync(input, ct).ConfigureAwait(false);
        }
        finally
        {
            _waits.Forget(id);
            Metrics.ProposalDone();
        }
    }

    /// <summary>
    /// Hands the proposal to the runner and waits for its wait: completed by the apply loop, or failed
    /// by the runner when raft refuses the proposal.
    /// </summary>
    private async Task<object?> RunProposalAsync(ProposeInput input, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
        timeout.CancelAfter(_options.RequestTimeout);
        try
        {
            _runner.Post(input);
            return await input.Applied.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            input.Abandon();
            Metrics.ProposalFailed();
            ThrowIfStopping();
            throw Volatile.Read(ref _lead) == 0
                ? new RaftException(RaftErrorCode.NoLeader, "etcdserver: no leader")
                : new RaftException(RaftErrorCode.Timeout, "etcdserver: request timed out");
        }
        catch (OperationCanceledException)
        {
            input.Abandon();
            Metrics.ProposalFailed();
            throw;
        }
    }

    /// <inheritdoc/>
    public Task ReadIndexAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfStopping();
        return _reads.WaitAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public async Task<Interop.Member> AddMemberAsync(IReadOnlyList<string> peerUrls, bool isLearner, CancellationToken cancellationToken = default)
    {
        ThrowIfStopping();
        var urls = PeerUrls.TryParse(peerUrls, out var error) ?? throw new ArgumentException(error, nameof(peerUrls));
        // etcd's member add: the id mixes in the time, so a member added again gets a new id.
        var member = new ClusterMember(MemberIds.ComputeMemberId(urls, "", DateTimeOffset.UtcNow), urls, isLearner, "", []);
        if (_options.StrictReconfigCheck && !isLearner)
        {
            if (!_cluster.IsReadyToAddVotingMember(member.Id))
                throw new RaftException(RaftErrorCode.Unhealthy, "etcdserver: re-configuration failed due to not enough started members");
            if (!IsConnectedToAllVoters())
                throw new RaftException(RaftErrorCode.Unhealthy, "etcdserver: unhealthy cluster");
        }
        var type = isLearner ? ConfChangeType.ConfChangeAddLearnerNode : ConfChangeType.ConfChangeAddNode;
        var result = await ConfigureAsync(type, member.Id, member.ToJson(), cancellationToken).ConfigureAwait(false);
        return (result.Cluster.Member(member.Id) ?? member).ToApi();
    }

    /// <inheritdoc/>
    public async Task RemoveMemberAsync(ulong memberId, CancellationToken cancellationToken = default)
    {
        ThrowIfStopping();
        if (_options.StrictReconfigCheck)
            MayRemoveMember(memberId);
        await ConfigureAsync(ConfChangeType.ConfChangeRemoveNode, memberId, [], cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task PromoteMemberAsync(ulong memberId, CancellationToken cancellationToken = default)
    {
        ThrowIfStopping();
        IsLearnerReady(memberId);
        if (_options.StrictReconfigCheck && !_cluster.IsReadyToPromoteMember(memberId))
            throw new RaftException(RaftErrorCode.Unhealthy, "etcdserver: re-configuration failed due to not enough started members");
        var ctx = new ConfigChangeContext(new ClusterMember(memberId, [], false, "", []), IsPromote: true);
        await ConfigureAsync(ConfChangeType.ConfChangeAddNode, memberId, ctx.ToJson(), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task TransferLeadershipAsync(ulong transferee, CancellationToken cancellationToken = default)
    {
        ThrowIfStopping();
        if (_cluster.Member(transferee) is not { IsLearner: false })
            throw new RaftException(RaftErrorCode.MemberNotFound, "etcdserver: bad leader transferee");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        timeout.CancelAfter(_options.RequestTimeout);
        try
        {
            while (Volatile.Read(ref _lead) != transferee)
            {
                var changed = Volatile.Read(ref _leaderChanged).Task;
                _runner.Post(new TransferLeaderInput(transferee));
                // Re-ask every election timeout: a transfer that did not finish in one is aborted by raft.
                await Task.WhenAny(changed, Task.Delay(TimeSpan.FromMilliseconds(_options.ElectionTimeoutMs), timeout.Token))
                    .ConfigureAwait(false);
                timeout.Token.ThrowIfCancellationRequested();
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            ThrowIfStopping();
            throw new RaftException(RaftErrorCode.Timeout, "etcdserver: request timed out, leader transfer took too long");
        }
    }

    /// <summary>etcd's configure: propose a conf change and wait until it is applied here.</summary>
    private async Task<ConfChangeResult> ConfigureAsync(ConfChangeType type, ulong nodeId, byte[] context, CancellationToken ct)
    {
        var cc = new ConfChange(_ids.Next(), type, nodeId, context);
        var input = new ProposeInput(cc, _waits.RegisterSource(cc.ID));
        try
        {
            var result = (ConfChangeResult?)await RunProposalAsync(input, ct).ConfigureAwait(false)
                ?? throw new InvalidOperationException("broken invariant: conf change applied without a result");
            if (result.Error is { } refused)
                throw MembershipException(refused);
            _log.LogInformation("applied a configuration change through raft: {Type} {Node:x}", type, nodeId);
            return result;
        }
        finally
        {
            _waits.Forget(cc.ID);
        }
    }

    private static RaftException MembershipException(MembershipError e) => e switch
    {
        MembershipError.IdRemoved => new RaftException(RaftErrorCode.MemberNotFound, "membership: ID removed"),
        MembershipError.IdExists => new RaftException(RaftErrorCode.PeerUrlExists, "membership: ID exists"),
        MembershipError.IdNotFound => new RaftException(RaftErrorCode.MemberNotFound, "membership: ID not found"),
        MembershipError.PeerUrlExists => new RaftException(RaftErrorCode.PeerUrlExists, "membership: peerURL exists"),
        MembershipError.MemberNotLearner => new RaftException(RaftErrorCode.MemberNotLearner, "membership: can only promote a learner member"),
        _ => new RaftException(RaftErrorCode.Unhealthy, "membership: too many learner members in cluster"),
    };

    /// <summary>etcd's isConnectedFullySince(now - HealthInterval) over the voting members.</summary>
    private bool IsConnectedToAllVoters()
    {
        var since = DateTimeOffset.UtcNow - TimeSpan.FromMilliseconds(_options.HealthIntervalMs);
        return _cluster.VotingMembers.Where(m => m.Id != _start.Id).All(m => _transport.ActiveSince(m.Id) is { } t && t <= since);
    }

    /// <summary>etcd's mayRemoveMember.</summary>
    private void MayRemoveMember(ulong id)
    {
        if (_cluster.Member(id) is { IsLearner: true })
            return;
        if (!_cluster.IsReadyToRemoveVotingMember(id))
            throw new RaftException(RaftErrorCode.Unhealthy, "etcdserver: re-configuration failed due to not enough started members");
        // A member that is down is not part of the active quorum and is safe to remove.
        if (id != _start.Id && _transport.ActiveSince(id) is null)
            return;
        var since = DateTimeOffset.UtcNow - TimeSpan.FromMilliseconds(_options.HealthIntervalMs);
        var voters = _cluster.VotingMembers.Select(m => m.Id);
        if (!CoreAdapter.MayRemoveActive(voters, m => m == _start.Id || _transport.ActiveSince(m) is { } t && t <= since, id))
            throw new RaftException(RaftErrorCode.Unhealthy, "etcdserver: unhealthy cluster");
    }

    /// <summary>etcd's isLearnerReady: only the leader knows; a learner must have 90% of the leader's match.</summary>
    private void IsLearnerReady(ulong id)
    {
        var status = RawNodeModule.status(_runner.Current);
        if (status.Progress.IsEmpty)
            throw new RaftException(RaftErrorCode.NotLeader, "etcdserver: not leader");
        if (status.Progress.TryGetValue(id, out var learner))
        {
            var leader = status.Progress[status.Basic.ID];
            if (learner.Match < leader.Match * 0.9)
                throw new RaftException(RaftErrorCode.LearnerNotReady, "etcdserver: can only promote a learner member which is in sync with leader");
        }
    }

    private void ThrowIfStopping()
    {
        if (_stopping.IsCancellationRequested)
            throw new RaftException(RaftErrorCode.Stopped, "etcdserver: server stopped", Volatile.Read(ref _failure));
    }

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

    /// <summary>Whether <paramref name="id"/> is a member of the applied membership (or of the initial one).</summary>
    public bool IsMember(ulong id) => _cluster.Member(id) is not null || _start.Peers.Any(p => p.Id == id);

    /// <summary>The last message to <paramref name="id"/> could not be sent.</summary>
    public void ReportUnreachable(ulong id) => _runner.Post(new UnreachableInput(id));

    /// <summary>Whether the snapshot sent to <paramref name="id"/> arrived.</summary>
    public void ReportSnapshot(ulong id, SnapshotStatus status)
    {
        _runner.Post(new SnapshotStatusInput(id, status));
        _apply.SnapshotSent(status.IsSnapshotFinish);
    }

    /// <summary>A peer told us this member was removed from the cluster: stop, as etcd does.</summary>
    public void ReportRemoved(ulong reportedBy)
    {
        _log.LogError("member {Self:x} was removed from the cluster (reported by {By:x}); the data-dir used by this member must be removed", _start.Id, reportedBy);
        _ = StopAsync(new RaftException(RaftErrorCode.Stopped, "the member has been permanently removed from the cluster"));
    }

    // ------------------------------------------------------------------------------------------
    // Sinks of the runner and the apply loop.

    void IRunnerSink.OnLeaderUpdate(LeaderUpdate update, ulong term)
    {
        var previous = Interlocked.Exchange(ref _lead, update.Lead);
        Metrics.SetLeader(update.Lead != 0, update.IsLeader);
        if (update.NewLeader)
        {
            Metrics.LeaderChanged();
            Interlocked.Exchange(ref _leaderChanged, NewSignal()).TrySetResult();
        }
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

    void IRunnerSink.OnCommittedIndex(ulong index)
    {
        if (index > Volatile.Read(ref _committed))
            Volatile.Write(ref _committed, index);
    }

    void IRunnerSink.OnRedirectSnapshot(Message message) => _apply.OfferMsgSnap(message);

    bool IRunnerSink.IsRemoved(ulong id) => _cluster.IsRemoved(id);

    void IRunnerSink.OnFatal(Exception error) => _ = StopAsync(error);

    void IApplySink.OnCluster(ClusterView cluster) => _cluster = cluster;

    void IApplySink.OnFirstCommitInTerm() => Interlocked.Exchange(ref _firstCommitInTerm, NewSignal()).TrySetResult();

    void IApplySink.OnRemovedSelf()
    {
        _log.LogWarning("the member has been permanently removed from the cluster; stopping");
        // Like etcd's stopWithDelay: let the runner send what it has (a leader's commit of the
        // removal) before stopping.
        _ = Task.Delay(TimeSpan.FromSeconds(1)).ContinueWith(
            _ => StopAsync(new RaftException(RaftErrorCode.Stopped, "the member has been permanently removed from the cluster")),
            TaskScheduler.Default);
    }

    void IApplySink.OnFatal(Exception error) => _ = StopAsync(error);

    // ------------------------------------------------------------------------------------------
    // Stopping.

    /// <summary>
    /// Stops gracefully: refuses new requests, ends the runner after the Ready in hand, lets the
    /// apply loop finish what it was handed, stops the transport and closes the WAL.
    /// </summary>
    public Task StopAsync() => StopAsync(null);

    private Task StopAsync(Exception? failure)
    {
        lock (_stopLock)
        {
            if (failure is not null && _failure is null)
                Volatile.Write(ref _failure, failure);
            return _stopTask ??= Task.Run(StopCoreAsync);
        }
    }

    private async Task StopCoreAsync()
    {
        _stopping.Cancel();
        var stopped = new RaftException(RaftErrorCode.Stopped, "etcdserver: server stopped", Volatile.Read(ref _failure));
        try
        {
            await _reads.StopAsync().ConfigureAwait(false);
            await _publish.ConfigureAwait(false);
            await _runner.StopAsync().ConfigureAwait(false);
            await _apply.StopAsync().ConfigureAwait(false);
            if (_transport is IAsyncDisposable d)
                await d.DisposeAsync().ConfigureAwait(false);
            else if (_transport is IDisposable sd)
                sd.Dispose();
        }
        catch (Exception ex)
        {
            _log.LogError(ex, "error while stopping");
        }
        finally
        {
            try
            {
                _start.Storage.Close();
            }
            catch (Exception ex)
            {
                _log.LogError(ex, "failed to close the WAL");
            }
            _waits.FailAll(stopped);
            _appliedWait.Stop(stopped);
            _log.LogInformation("stopped member {Id:x}", _start.Id);
            if (Volatile.Read(ref _failure) is { } f and not RaftException { Code: RaftErrorCode.Stopped })
                _stopped.TrySetException(f);
            else
                _stopped.TrySetResult();
        }
    }

    /// <summary>Stops the node (see <see cref="StopAsync()"/>) and releases its meter.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        Metrics.Dispose();
    }
}
