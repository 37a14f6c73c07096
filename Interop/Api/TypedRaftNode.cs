namespace Raft.Interop;

/// <summary>
/// A node whose state machine is an <see cref="IStateMachine{TCommand, TResult}"/>: proposals take a
/// <typeparamref name="TCommand"/> and complete with the <typeparamref name="TResult"/> that applying
/// it returned on this member. Everything else is the untyped <see cref="Node"/>'s.
/// </summary>
/// <typeparam name="TCommand">The command type.</typeparam>
/// <typeparam name="TResult">What applying a command returns to its proposer.</typeparam>
public sealed class RaftNode<TCommand, TResult>
{
    private readonly ICommandCodec<TCommand> _codec;

    /// <summary>Wraps <paramref name="node"/>, which must run a state machine made by <see cref="TypedStateMachine.Create"/> with the same types.</summary>
    public RaftNode(IRaftNode node, ICommandCodec<TCommand> codec)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(codec);
        Node = node;
        _codec = codec;
    }

    /// <summary>The untyped node: membership, status, leadership.</summary>
    public IRaftNode Node { get; }

    /// <summary>
    /// Proposes <paramref name="command"/> and completes with its result once it is committed and
    /// applied on this member; fails as <see cref="IRaftNode.ProposeAsync"/> does.
    /// </summary>
    public Task<TResult> ProposeAsync(TCommand command, CancellationToken cancellationToken = default) =>
        RaftNodeExtensions.ProposeTypedAsync<TCommand, TResult>(Node, command, _codec, cancellationToken);

    /// <summary>A linearizable read barrier; see <see cref="IRaftNode.ReadIndexAsync"/>.</summary>
    public Task ReadIndexAsync(CancellationToken cancellationToken = default) => Node.ReadIndexAsync(cancellationToken);
}

/// <summary>Typed proposals on an untyped node.</summary>
public static class RaftNodeExtensions
{
    /// <summary>
    /// Proposes <paramref name="command"/> encoded with <paramref name="codec"/> and completes with
    /// the <typeparamref name="TResult"/> the state machine returned for it on this member.
    /// </summary>
    /// <exception cref="InvalidCastException">The state machine returned something that is not a <typeparamref name="TResult"/>.</exception>
    public static Task<TResult> ProposeAsync<TCommand, TResult>(this IRaftNode node, TCommand command, ICommandCodec<TCommand> codec, CancellationToken cancellationToken = default) =>
        ProposeTypedAsync<TCommand, TResult>(node, command, codec, cancellationToken);

    internal static async Task<TResult> ProposeTypedAsync<TCommand, TResult>(IRaftNode node, TCommand command, ICommandCodec<TCommand> codec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(codec);
        var result = await node.ProposeAsync(codec.Encode(command), cancellationToken).ConfigureAwait(false);
        return result switch
        {
            TResult typed => typed,
            // A null result is a TResult only when TResult admits null.
            null when default(TResult) is null => default!,
            _ => throw new InvalidCastException(
                $"the state machine returned {(result is null ? "null" : result.GetType().FullName)} for a proposal that expects {typeof(TResult).FullName}: is it the IStateMachine<{typeof(TCommand).Name}, {typeof(TResult).Name}> the node runs?"),
        };
    }
}
