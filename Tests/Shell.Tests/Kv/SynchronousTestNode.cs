using Raft.Interop;

namespace Raft.Shell.Tests.Kv;

/// <summary>
/// TEST DOUBLE, not a Raft node: an <see cref="IRaftNode"/> that "commits" each proposal at once by
/// applying it to the state machine on the caller's thread, keeps membership in a list, and can be
/// told that there is no leader (operations then wait until cancelled) or to fail the next operation.
/// Its ids and term are those of the etcd 3.4 member whose answers the HTTP tests compare against.
/// </summary>
internal sealed class SynchronousTestNode(IStateMachine stateMachine) : IRaftNode
{
    public const ulong EtcdClusterId = 324952591200643719;
    public const ulong EtcdMemberId = 3319814642761637952;

    private readonly object _gate = new();
    private readonly List<Member> _members =
        [new Member(EtcdMemberId, "e1", ["http://127.0.0.1:23800"], ["http://127.0.0.1:23790"], false)];
    private ulong _index;
    private ulong _nextId = 7152959861385307247;

    public ulong MemberId => EtcdMemberId;

    public ulong ClusterId => EtcdClusterId;

    /// <summary>The leader (0: none, and proposals, reads and membership changes wait until cancelled).</summary>
    public ulong Leader { get; set; } = EtcdMemberId;

    public ulong Term { get; set; } = 2;

    /// <summary>Thrown by the next operation instead of doing it.</summary>
    public Exception? FailNext { get; set; }

    public int ReadIndexCalls { get; private set; }

    public int Proposals { get; private set; }

    private async Task GateAsync(CancellationToken ct)
    {
        if (FailNext is { } failure)
        {
            FailNext = null;
            throw failure;
        }
        if (Leader == 0) await Task.Delay(Timeout.Infinite, ct);
    }

    public async Task<object?> ProposeAsync(ReadOnlyMemory<byte> command, CancellationToken cancellationToken = default)
    {
        await GateAsync(cancellationToken);
        lock (_gate)
        {
            Proposals++;
            return stateMachine.Apply(++_index, command.ToArray());
        }
    }

    public async Task ReadIndexAsync(CancellationToken cancellationToken = default)
    {
        ReadIndexCalls++;
        await GateAsync(cancellationToken);
    }

    public IReadOnlyList<Member> Members
    {
        get
        {
            lock (_gate) return _members.ToArray();
        }
    }

    public async Task<Member> AddMemberAsync(IReadOnlyList<string> peerUrls, bool isLearner, CancellationToken cancellationToken = default)
    {
        await GateAsync(cancellationToken);
        lock (_gate)
        {
            if (_members.Any(m => m.PeerUrls.Intersect(peerUrls).Any()))
                throw new RaftException(RaftErrorCode.PeerUrlExists, "membership: peerURL exists");
            var member = new Member(_nextId++, "", peerUrls, [], isLearner);
            _members.Add(member);
            return member;
        }
    }

    public async Task RemoveMemberAsync(ulong memberId, CancellationToken cancellationToken = default)
    {
        await GateAsync(cancellationToken);
        lock (_gate)
        {
            if (_members.RemoveAll(m => m.Id == memberId) == 0)
                throw new RaftException(RaftErrorCode.MemberNotFound, "membership: ID not found");
        }
    }

    public async Task PromoteMemberAsync(ulong memberId, CancellationToken cancellationToken = default)
    {
        await GateAsync(cancellationToken);
        lock (_gate)
        {
            var i = _members.FindIndex(m => m.Id == memberId);
            if (i < 0) throw new RaftException(RaftErrorCode.MemberNotFound, "membership: ID not found");
            if (!_members[i].IsLearner) throw new RaftException(RaftErrorCode.MemberNotLearner, "membership: can only promote a learner member");
            _members[i] = _members[i] with { IsLearner = false };
        }
    }

    public async Task UpdateMemberAsync(ulong memberId, IReadOnlyList<string> peerUrls, CancellationToken cancellationToken = default)
    {
        await GateAsync(cancellationToken);
        lock (_gate)
        {
            var i = _members.FindIndex(m => m.Id == memberId);
            if (i < 0) throw new RaftException(RaftErrorCode.MemberNotFound, "membership: ID not found");
            _members[i] = _members[i] with { PeerUrls = peerUrls };
        }
    }

    public Task TransferLeadershipAsync(ulong transferee, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("the test double has no leadership to transfer");

    public NodeStatus Status
    {
        get
        {
            lock (_gate)
            {
                return new NodeStatus(EtcdMemberId, EtcdClusterId, Term, Leader, Leader,
                    Leader == EtcdMemberId ? NodeRole.Leader : NodeRole.Follower, _index, _index, 0, false);
            }
        }
    }

    public event EventHandler<LeaderChangedEventArgs>? LeaderChanged
    {
        add { }
        remove { }
    }
}
