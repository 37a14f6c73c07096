namespace Raft.Kv.Mvcc;

/// <summary>
/// One key's state at a revision, counted as etcd's MVCC store counts it (mvccpb.KeyValue).
/// Immutable; equality compares the bytes and counters.
/// </summary>
public sealed class KeyValue : IEquatable<KeyValue>
{
    /// <summary>Creates a key-value pair. The memory is not copied: callers hand over bytes nobody mutates.</summary>
    public KeyValue(ReadOnlyMemory<byte> key, long createRevision, long modRevision, long version, ReadOnlyMemory<byte> value)
        : this(key, createRevision, modRevision, version, value, 0)
    {
    }

    /// <summary>Creates a key-value pair attached to lease <paramref name="lease"/> (0: none). The memory is not copied.</summary>
    public KeyValue(ReadOnlyMemory<byte> key, long createRevision, long modRevision, long version, ReadOnlyMemory<byte> value, long lease)
    {
        Lease = lease;
        Key = key;
        CreateRevision = createRevision;
        ModRevision = modRevision;
        Version = version;
        Value = value;
    }

    /// <summary>The key bytes.</summary>
    public ReadOnlyMemory<byte> Key { get; }

    /// <summary>The store revision of the put that created the key (since its last delete).</summary>
    public long CreateRevision { get; }

    /// <summary>The store revision of the key's last put.</summary>
    public long ModRevision { get; }

    /// <summary>1 on create, +1 per put; a delete resets it.</summary>
    public long Version { get; }

    /// <summary>The value bytes.</summary>
    public ReadOnlyMemory<byte> Value { get; }

    /// <summary>The lease the key is attached to (0: none).</summary>
    public long Lease { get; }

    /// <summary>The same pair without its value (what a keys-only read returns).</summary>
    public KeyValue WithoutValue() =>
        Value.IsEmpty ? this : new KeyValue(Key, CreateRevision, ModRevision, Version, ReadOnlyMemory<byte>.Empty, Lease);

    /// <inheritdoc />
    public bool Equals(KeyValue? other) =>
        other is not null
        && CreateRevision == other.CreateRevision && Lease == other.Lease && ModRevision == other.ModRevision && Version == other.Version
        && Key.Span.SequenceEqual(other.Key.Span) && Value.Span.SequenceEqual(other.Value.Span);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is KeyValue kv && Equals(kv);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.AddBytes(Key.Span);
        h.Add(ModRevision);
        return h.ToHashCode();
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"{{key={Convert.ToHexString(Key.Span)} create={CreateRevision} mod={ModRevision} version={Version} value={Value.Length}B}}";
}
