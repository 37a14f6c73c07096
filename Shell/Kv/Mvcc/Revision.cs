using System.Buffers.Binary;

namespace Raft.Kv.Mvcc;

/// <summary>
/// A point in the store's history (etcd's revision): every write transaction gets the next main
/// revision, and each change inside it a sub-revision counted from 0.
/// </summary>
/// <param name="Main">The transaction's revision (the store revision after it).</param>
/// <param name="Sub">The change's position inside its transaction.</param>
public readonly record struct Revision(long Main, long Sub) : IComparable<Revision>
{
    /// <summary>Bytes of a revision key: main (8, big-endian), '_', sub (8, big-endian), as etcd writes them.</summary>
    public const int KeyLength = 17;

    /// <summary>Bytes of a tombstone's revision key: the revision key and the mark 't'.</summary>
    public const int TombstoneKeyLength = KeyLength + 1;

    private const byte TombstoneMark = (byte)'t';

    /// <inheritdoc />
    public int CompareTo(Revision other) => Main != other.Main ? Main.CompareTo(other.Main) : Sub.CompareTo(other.Sub);

    /// <summary>Whether this revision comes after <paramref name="other"/>.</summary>
    public bool GreaterThan(Revision other) => CompareTo(other) > 0;

    /// <summary>Writes the revision key (17 bytes) into <paramref name="destination"/>.</summary>
    public void WriteKey(Span<byte> destination)
    {
        BinaryPrimitives.WriteInt64BigEndian(destination, Main);
        destination[8] = (byte)'_';
        BinaryPrimitives.WriteInt64BigEndian(destination[9..], Sub);
    }

    /// <summary>The backend key of this revision: 17 bytes, or 18 with the tombstone mark.</summary>
    public byte[] ToKey(bool tombstone = false)
    {
        var key = new byte[tombstone ? TombstoneKeyLength : KeyLength];
        WriteKey(key);
        if (tombstone) key[KeyLength] = TombstoneMark;
        return key;
    }

    /// <summary>The revision a backend key names (its first 17 bytes).</summary>
    /// <exception cref="InvalidDataException">The key is not a revision key.</exception>
    public static Revision FromKey(ReadOnlySpan<byte> key)
    {
        if (key.Length is not (KeyLength or TombstoneKeyLength) || key[8] != (byte)'_')
            throw new InvalidDataException($"not a revision key: {Convert.ToHexString(key)}");
        return new Revision(BinaryPrimitives.ReadInt64BigEndian(key), BinaryPrimitives.ReadInt64BigEndian(key[9..]));
    }

    /// <summary>Whether a backend key carries the tombstone mark (the change deleted the key).</summary>
    public static bool IsTombstoneKey(ReadOnlySpan<byte> key) => key.Length == TombstoneKeyLength && key[KeyLength] == TombstoneMark;

    /// <inheritdoc />
    public override string ToString() => $"{Main}.{Sub}";

    /// <summary>Orders by main, then sub.</summary>
    public static bool operator <(Revision a, Revision b) => a.CompareTo(b) < 0;

    /// <summary>Orders by main, then sub.</summary>
    public static bool operator >(Revision a, Revision b) => a.CompareTo(b) > 0;

    /// <summary>Orders by main, then sub.</summary>
    public static bool operator <=(Revision a, Revision b) => a.CompareTo(b) <= 0;

    /// <summary>Orders by main, then sub.</summary>
    public static bool operator >=(Revision a, Revision b) => a.CompareTo(b) >= 0;
}
