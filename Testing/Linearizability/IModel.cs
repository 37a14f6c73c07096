namespace Raft.Testing.Linearizability;

/// <summary>
/// A sequential specification: what one operation does to the state of the object when it takes
/// effect alone. The checker searches for an order of a concurrent history's operations that this
/// specification accepts and that respects real time.
/// </summary>
/// <typeparam name="TState">The object's state; treated as immutable by the checker.</typeparam>
/// <typeparam name="TInput">What a client asked for.</typeparam>
/// <typeparam name="TOutput">What the client was told (including an "unknown" form for operations
/// whose outcome was never learnt, if the model has any).</typeparam>
public interface IModel<TState, TInput, TOutput>
{
    /// <summary>The state before any operation.</summary>
    TState Init();

    /// <summary>
    /// Applies <paramref name="input"/> to <paramref name="state"/>. <c>Ok</c> is false when the
    /// operation cannot have answered <paramref name="output"/> from that state; <c>Next</c> is the
    /// state after it (ignored when not ok). Must be a pure function.
    /// </summary>
    (bool Ok, TState Next) Step(TState state, TInput input, TOutput output);

    /// <summary>Equality and hash of states, used to remember which configurations were explored.</summary>
    IEqualityComparer<TState> StateComparer { get; }

    /// <summary>
    /// The partition an operation belongs to. Partitions are checked independently, which is sound
    /// when operations of different partitions never affect each other (a register per key). A model
    /// without partitions returns the same key for every input.
    /// </summary>
    string PartitionKey(TInput input);

    /// <summary>An operation in a violation report, e.g. <c>get(k) -> "v"</c>.</summary>
    string Describe(TInput input, TOutput output);

    /// <summary>A state in a violation report.</summary>
    string DescribeState(TState state);
}
