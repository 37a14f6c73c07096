namespace Raft.Kv.Mvcc;

/// <summary>
/// Reads the fields the index and the lessor need (key, create_revision, version, lease) straight from an encoded
/// mvccpb.KeyValue, without copying its value: rebuilding the index at open reads every pair of the
/// store, and parsing each into a message copied the 256-byte values of a million keys for nothing.
/// </summary>
internal static class KeyValueFields
{
    /// <summary>The key, create revision, version and lease of an encoded KeyValue.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a well-formed KeyValue.</exception>
    // Runs a million times at a start, before tiered compilation would have optimized it.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static ReadOnlySpan<byte> Read(ReadOnlySpan<byte> message, out long createRevision, out long version, out long lease)
    {
        ReadOnlySpan<byte> key = default;
        createRevision = version = lease = 0;
        var pos = 0;
        while (pos < message.Length)
        {
            var tag = ReadVarint(message, ref pos);
            var field = tag >> 3;
            switch ((int)(tag & 7))
            {
                case 0:
                    var v = (long)ReadVarint(message, ref pos);
                    if (field == 2) createRevision = v;
                    else if (field == 4) version = v;
                    else if (field == 6) lease = v;
                    break;
                case 1:
                    pos += 8;
                    break;
                case 2:
                    var length = ReadVarint(message, ref pos);
                    if (length > (ulong)(message.Length - pos)) throw Malformed();
                    if (field == 1) key = message.Slice(pos, (int)length);
                    pos += (int)length;
                    break;
                case 5:
                    pos += 4;
                    break;
                default:
                    throw Malformed();
            }
        }
        if (pos != message.Length) throw Malformed();
        return key;
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> buffer, ref int pos)
    {
        ulong v = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (pos >= buffer.Length) throw Malformed();
            var b = buffer[pos++];
            v |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return v;
        }
        throw Malformed();
    }

    private static InvalidDataException Malformed() => new("the store holds a malformed KeyValue");
}
