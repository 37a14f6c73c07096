namespace Raft.Kv.Codec;

/// <summary>Protobuf wire types used here.</summary>
internal enum WireType
{
    Varint = 0,
    Fixed64 = 1,
    LengthDelimited = 2,
    Fixed32 = 5,
}

/// <summary>
/// Writes protobuf fields the way etcd's gogoproto code does for proto3 messages: in field-number order
/// as called, zero scalars and empty bytes left out. The caller sizes the buffer with the Size helpers.
/// </summary>
internal ref struct ProtoWriter(Span<byte> buffer)
{
    private readonly Span<byte> _buffer = buffer;
    private int _pos;

    public readonly int Position => _pos;

    public static int VarintSize(ulong v)
    {
        var n = 1;
        while (v >= 0x80)
        {
            v >>= 7;
            n++;
        }
        return n;
    }

    public static int TagSize(int field) => VarintSize((ulong)field << 3);

    /// <summary>Size of a length-delimited field holding <paramref name="length"/> bytes (0 when empty and omitted).</summary>
    public static int BytesFieldSize(int field, int length) => length == 0 ? 0 : TagSize(field) + VarintSize((ulong)length) + length;

    /// <summary>Size of a length-delimited field always written, even when empty (embedded messages).</summary>
    public static int MessageFieldSize(int field, int length) => TagSize(field) + VarintSize((ulong)length) + length;

    /// <summary>Size of a varint field (0 when the value is zero and omitted).</summary>
    public static int VarintFieldSize(int field, ulong value) => value == 0 ? 0 : TagSize(field) + VarintSize(value);

    public void WriteVarint(ulong v)
    {
        while (v >= 0x80)
        {
            _buffer[_pos++] = (byte)(v | 0x80);
            v >>= 7;
        }
        _buffer[_pos++] = (byte)v;
    }

    private void WriteTag(int field, WireType type) => WriteVarint(((ulong)field << 3) | (ulong)type);

    public void WriteVarintField(int field, ulong value)
    {
        if (value == 0) return;
        WriteTag(field, WireType.Varint);
        WriteVarint(value);
    }

    public void WriteBytesField(int field, ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty) return;
        WriteMessageHeader(field, value.Length);
        value.CopyTo(_buffer[_pos..]);
        _pos += value.Length;
    }

    /// <summary>Writes the tag and length of an embedded message whose body the caller writes next.</summary>
    public void WriteMessageHeader(int field, int length)
    {
        WriteTag(field, WireType.LengthDelimited);
        WriteVarint((ulong)length);
    }
}

/// <summary>Reads protobuf fields from a span without throwing: every read says whether it succeeded.</summary>
internal ref struct ProtoReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _pos;

    public readonly bool AtEnd => _pos >= _data.Length;

    public bool TryReadVarint(out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (_pos >= _data.Length) return false;
            var b = _data[_pos++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return true;
        }
        return false;
    }

    /// <summary>Reads a field's tag; false at a malformed tag (check <see cref="AtEnd"/> first).</summary>
    public bool TryReadTag(out int field, out WireType type)
    {
        field = 0;
        type = 0;
        if (!TryReadVarint(out var tag) || tag >> 3 == 0 || tag >> 3 > int.MaxValue) return false;
        field = (int)(tag >> 3);
        type = (WireType)(tag & 7);
        return true;
    }

    public bool TryReadLengthDelimited(out ReadOnlySpan<byte> value)
    {
        value = default;
        if (!TryReadVarint(out var len) || len > (ulong)(_data.Length - _pos)) return false;
        value = _data.Slice(_pos, (int)len);
        _pos += (int)len;
        return true;
    }

    /// <summary>Skips a field of an unknown number (protobuf's forward compatibility).</summary>
    public bool TrySkip(WireType type)
    {
        switch (type)
        {
            case WireType.Varint:
                return TryReadVarint(out _);
            case WireType.Fixed64:
                if (_data.Length - _pos < 8) return false;
                _pos += 8;
                return true;
            case WireType.Fixed32:
                if (_data.Length - _pos < 4) return false;
                _pos += 4;
                return true;
            case WireType.LengthDelimited:
                return TryReadLengthDelimited(out _);
            default:
                return false;
        }
    }

    /// <summary>Reads a varint field's value as a bool, as protobuf does (any non-zero is true).</summary>
    public bool TryReadBool(WireType type, out bool value)
    {
        value = false;
        if (type != WireType.Varint || !TryReadVarint(out var v)) return false;
        value = v != 0;
        return true;
    }

    public bool TryReadInt64(WireType type, out long value)
    {
        value = 0;
        if (type != WireType.Varint || !TryReadVarint(out var v)) return false;
        value = unchecked((long)v);
        return true;
    }

    /// <summary>Reads a bytes field into a fresh array (the store keeps it; the input buffer is not ours).</summary>
    public bool TryReadBytes(WireType type, out byte[] value)
    {
        value = [];
        if (type != WireType.LengthDelimited || !TryReadLengthDelimited(out var span)) return false;
        value = span.ToArray();
        return true;
    }
}

/// <summary>Little helpers shared by the codecs.</summary>
internal static class ProtoWireExtensions
{
    public static ulong AsVarint(this long v) => unchecked((ulong)v);

    public static ulong AsVarint(this bool v) => v ? 1UL : 0UL;
}
