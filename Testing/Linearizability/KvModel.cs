using System.Text;

namespace Raft.Testing.Linearizability;

/// <summary>The kinds of key-value operation the <see cref="KvModel"/> knows.</summary>
public enum KvOp
{
    /// <summary>Sets the key's value.</summary>
    Put,
    /// <summary>Reads the key's value (or its absence).</summary>
    Get,
    /// <summary>Removes the key.</summary>
    Delete,
    /// <summary>Sets the key's value iff its current value equals the expected one.</summary>
    CompareAndSet,
}

/// <summary>A request to one key of a key-value store.</summary>
/// <param name="Op">What is asked.</param>
/// <param name="Key">The key; also the partition.</param>
/// <param name="Value">The value written by a put or a compare-and-set.</param>
/// <param name="Expected">A compare-and-set's expected value; null means "the key is absent".</param>
public readonly record struct KvInput(KvOp Op, string Key, string? Value, string? Expected)
{
    /// <summary>put(key, value).</summary>
    public static KvInput Put(string key, string value) => new(KvOp.Put, key, value, null);

    /// <summary>get(key).</summary>
    public static KvInput Get(string key) => new(KvOp.Get, key, null, null);

    /// <summary>delete(key).</summary>
    public static KvInput Delete(string key) => new(KvOp.Delete, key, null, null);

    /// <summary>cas(key, expected, value); a null <paramref name="expected"/> expects the key absent.</summary>
    public static KvInput CompareAndSet(string key, string? expected, string value) =>
        new(KvOp.CompareAndSet, key, value, expected);

    /// <summary>True for operations that cannot change the state (gets).</summary>
    public bool IsRead => Op == KvOp.Get;
}

/// <summary>The kinds of answer in a <see cref="KvOutput"/>.</summary>
public enum KvOutputKind
{
    /// <summary>A put or delete was acknowledged.</summary>
    Done,
    /// <summary>A get answered <see cref="KvOutput.Value"/> (null: absent).</summary>
    Read,
    /// <summary>A compare-and-set answered <see cref="KvOutput.Succeeded"/>.</summary>
    Swapped,
    /// <summary>The outcome was never learnt: the operation may have taken effect or not.</summary>
    Unknown,
}

/// <summary>The answer a client got from the key-value store.</summary>
/// <param name="Kind">Which answer.</param>
/// <param name="Value">A get's value; null means the key was absent.</param>
/// <param name="Succeeded">Whether a compare-and-set swapped.</param>
public readonly record struct KvOutput(KvOutputKind Kind, string? Value, bool Succeeded)
{
    /// <summary>A put or delete was acknowledged.</summary>
    public static KvOutput Done => new(KvOutputKind.Done, null, false);

    /// <summary>A get saw <paramref name="value"/> (null: absent).</summary>
    public static KvOutput Read(string? value) => new(KvOutputKind.Read, value, false);

    /// <summary>A get saw no value.</summary>
    public static KvOutput Absent => new(KvOutputKind.Read, null, false);

    /// <summary>A compare-and-set swapped (true) or found another value (false).</summary>
    public static KvOutput Swapped(bool succeeded) => new(KvOutputKind.Swapped, null, succeeded);

    /// <summary>Timed out or failed with an unknown outcome: accepted whatever the operation did.</summary>
    public static KvOutput Unknown => new(KvOutputKind.Unknown, null, false);
}

/// <summary>
/// A register per key: put, get (absent when never written or deleted), delete and
/// compare-and-set. Partitioned by key. The state of a partition is its key's value, null when absent.
/// </summary>
public sealed class KvModel : IModel<string?, KvInput, KvOutput>
{
    /// <summary>The one instance; the model has no settings.</summary>
    public static KvModel Instance { get; } = new();

    /// <inheritdoc/>
    public string? Init() => null;

    /// <inheritdoc/>
    public (bool Ok, string? Next) Step(string? state, KvInput input, KvOutput output)
    {
        bool unknown = output.Kind == KvOutputKind.Unknown;
        switch (input.Op)
        {
            case KvOp.Put:
                Expect(input, output, KvOutputKind.Done);
                return (true, input.Value);
            case KvOp.Delete:
                Expect(input, output, KvOutputKind.Done);
                return (true, null);
            case KvOp.Get:
                Expect(input, output, KvOutputKind.Read);
                // A read whose answer was lost tells nothing; it is accepted anywhere.
                return (unknown || string.Equals(state, output.Value, StringComparison.Ordinal), state);
            case KvOp.CompareAndSet:
                Expect(input, output, KvOutputKind.Swapped);
                bool matches = string.Equals(state, input.Expected, StringComparison.Ordinal);
                if (unknown) return (true, matches ? input.Value : state);
                return output.Succeeded ? (matches, input.Value) : (!matches, state);
            default:
                throw new ArgumentOutOfRangeException(nameof(input), input.Op, "unknown operation kind");
        }
    }

    // A put answered with a value is a bug in the host's recording, not a linearizability violation.
    private static void Expect(KvInput input, KvOutput output, KvOutputKind kind)
    {
        if (output.Kind != kind && output.Kind != KvOutputKind.Unknown)
            throw new ArgumentException($"{input.Op} answered with a {output.Kind} output", nameof(output));
    }

    /// <inheritdoc/>
    public IEqualityComparer<string?> StateComparer => StringComparer.Ordinal;

    /// <inheritdoc/>
    public string PartitionKey(KvInput input) => input.Key;

    /// <inheritdoc/>
    public string Describe(KvInput input, KvOutput output)
    {
        var b = new StringBuilder();
        switch (input.Op)
        {
            case KvOp.Put: b.Append("put(").Append(Quote(input.Key)).Append(", ").Append(Quote(input.Value)).Append(')'); break;
            case KvOp.Get: b.Append("get(").Append(Quote(input.Key)).Append(')'); break;
            case KvOp.Delete: b.Append("delete(").Append(Quote(input.Key)).Append(')'); break;
            case KvOp.CompareAndSet:
                b.Append("cas(").Append(Quote(input.Key)).Append(", ").Append(Quote(input.Expected))
                 .Append(", ").Append(Quote(input.Value)).Append(')');
                break;
        }
        b.Append(" -> ");
        b.Append(output.Kind switch
        {
            KvOutputKind.Done => "ok",
            KvOutputKind.Read => Quote(output.Value),
            KvOutputKind.Swapped => output.Succeeded ? "swapped" : "not swapped",
            _ => "unknown",
        });
        return b.ToString();
    }

    /// <inheritdoc/>
    public string DescribeState(string? state) => Quote(state);

    private static string Quote(string? s) =>
        s is null ? "absent" : "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
