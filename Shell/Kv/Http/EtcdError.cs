using Raft.Interop;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Http;

/// <summary>
/// An error as etcd's server reports it (api/v3rpc/rpctypes): a gRPC code and etcd's message text.
/// The gateway prints it as <c>{"error":message,"code":code,"message":message}</c>.
/// </summary>
/// <param name="Code">The gRPC status code.</param>
/// <param name="Message">etcd's message text.</param>
public sealed record EtcdError(GrpcCode Code, string Message)
{
    /// <summary>The HTTP status the gateway answers with.</summary>
    public int HttpStatus => GrpcHttpStatus.Of(Code);

    /// <summary>"etcdserver: key is not provided".</summary>
    public static EtcdError EmptyKey { get; } = new(GrpcCode.InvalidArgument, "etcdserver: key is not provided");

    /// <summary>"etcdserver: request is too large".</summary>
    public static EtcdError RequestTooLarge { get; } = new(GrpcCode.InvalidArgument, "etcdserver: request is too large");

    /// <summary>"etcdserver: given member URLs are invalid".</summary>
    public static EtcdError MemberBadUrls { get; } = new(GrpcCode.InvalidArgument, "etcdserver: given member URLs are invalid");

    /// <summary>"etcdserver: member not found".</summary>
    public static EtcdError MemberNotFound { get; } = new(GrpcCode.NotFound, "etcdserver: member not found");

    /// <summary>"etcdserver: no leader".</summary>
    public static EtcdError NoLeader { get; } = new(GrpcCode.Unavailable, "etcdserver: no leader");

    /// <summary>"etcdserver: request timed out".</summary>
    public static EtcdError Timeout { get; } = new(GrpcCode.Unavailable, "etcdserver: request timed out");

    /// <summary>"etcdserver: request timed out, possibly due to previous leader failure": the proposal may still commit.</summary>
    public static EtcdError TimeoutDueToLeaderFail { get; } = new(GrpcCode.Unavailable, "etcdserver: request timed out, possibly due to previous leader failure");

    /// <summary>"etcdserver: not leader".</summary>
    public static EtcdError NotLeader { get; } = new(GrpcCode.FailedPrecondition, "etcdserver: not leader");

    /// <summary>"etcdserver: server stopped".</summary>
    public static EtcdError Stopped { get; } = new(GrpcCode.Unavailable, "etcdserver: server stopped");

    /// <summary>gRPC's refusal of a message over the server's receive limit.</summary>
    public static EtcdError MessageLargerThanMax(long size, long max) =>
        new(GrpcCode.ResourceExhausted, $"grpc: received message larger than max ({size} vs. {max})");

    /// <summary>A request body that is not valid JSON for the request (the gateway's decoding error).</summary>
    public static EtcdError BadRequest(string message) => new(GrpcCode.InvalidArgument, message);

    // etcd's server errors by message, so a node that reports etcd's own text gets etcd's own code.
    private static readonly Dictionary<string, EtcdError> ByMessage = new EtcdError[]
    {
        EmptyKey, RequestTooLarge, MemberBadUrls, MemberNotFound, NoLeader, Timeout, TimeoutDueToLeaderFail, Stopped, NotLeader,
        new(GrpcCode.FailedPrecondition, "etcdserver: member ID already exist"),
        new(GrpcCode.FailedPrecondition, "etcdserver: Peer URLs already exists"),
        new(GrpcCode.FailedPrecondition, "etcdserver: re-configuration failed due to not enough started members"),
        new(GrpcCode.FailedPrecondition, "etcdserver: can only promote a learner member"),
        new(GrpcCode.FailedPrecondition, "etcdserver: can only promote a learner member which is in sync with leader"),
        new(GrpcCode.FailedPrecondition, "etcdserver: too many learner members in cluster"),
        new(GrpcCode.FailedPrecondition, "etcdserver: bad leader transferee"),
        new(GrpcCode.Unavailable, "etcdserver: leader changed"),
        new(GrpcCode.Unavailable, "etcdserver: request timed out, possibly due to connection lost"),
        new(GrpcCode.Unavailable, "etcdserver: request timed out, waiting for the applied index took too long"),
        new(GrpcCode.Unavailable, "etcdserver: unhealthy cluster"),
        new(GrpcCode.Unavailable, "etcdserver: rpc not supported for learner"),
        new(GrpcCode.OutOfRange, "etcdserver: mvcc: required revision has been compacted"),
        new(GrpcCode.OutOfRange, "etcdserver: mvcc: required revision is a future revision"),
    }.ToDictionary(e => e.Message);

    /// <summary>
    /// The etcd error for a node failure: etcd's own error when the node used etcd's message, else the
    /// error etcd gives for that kind of failure (etcd's togRPCError).
    /// </summary>
    public static EtcdError From(RaftException ex)
    {
        if (ByMessage.TryGetValue(ex.Message, out var known)) return known;
        return ex.Code switch
        {
            RaftErrorCode.Stopped => Stopped,
            RaftErrorCode.NoLeader => NoLeader,
            RaftErrorCode.ProposalDropped => new(GrpcCode.Unknown, "raft proposal dropped"),
            RaftErrorCode.RequestTooLarge => RequestTooLarge,
            RaftErrorCode.MemberNotFound => MemberNotFound,
            RaftErrorCode.PeerUrlExists => ByMessage["etcdserver: Peer URLs already exists"],
            RaftErrorCode.MemberNotLearner => ByMessage["etcdserver: can only promote a learner member"],
            RaftErrorCode.LearnerNotReady => ByMessage["etcdserver: can only promote a learner member which is in sync with leader"],
            RaftErrorCode.Unhealthy => ByMessage["etcdserver: unhealthy cluster"],
            RaftErrorCode.Timeout => Timeout,
            RaftErrorCode.NotLeader => NotLeader,
            _ => new(GrpcCode.Unknown, ex.Message),
        };
    }

    /// <summary>The etcd error for a store error.</summary>
    public static EtcdError From(KvError error) => error.Kind switch
    {
        KvErrorKind.EmptyKey => EmptyKey,
        KvErrorKind.TooManyOps or KvErrorKind.DuplicateKey => new(GrpcCode.InvalidArgument, error.Message),
        KvErrorKind.NoSpace => new(GrpcCode.ResourceExhausted, error.Message),
        KvErrorKind.FutureRevision or KvErrorKind.Compacted or KvErrorKind.LeaseTtlTooLarge => new(GrpcCode.OutOfRange, error.Message),
        KvErrorKind.LeaseNotFound => new(GrpcCode.NotFound, error.Message),
        KvErrorKind.LeaseExists => new(GrpcCode.FailedPrecondition, error.Message),
        KvErrorKind.KeyNotFound or KvErrorKind.LeaseProvided or KvErrorKind.ValueProvided => new(GrpcCode.InvalidArgument, error.Message),
        _ => new(GrpcCode.Unknown, error.Message),
    };
}
