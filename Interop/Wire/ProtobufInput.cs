using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Raft.Interop.Wire;

/// <summary>
/// Guards Google.Protobuf's parser against outside bytes. Its parser (3.25) takes a nested message
/// whose length is near int.MaxValue (<c>12 ff ff ff ff 07</c>) without an error: its limit
/// arithmetic overflows, and it then reads past the input (IndexOutOfRangeException) or allocates
/// whatever a later length announces (gigabytes from a 38-byte input). Both were found by fuzzing.
/// <see cref="Check"/> walks the bytes with the message's descriptor first, refusing any length
/// that runs past its enclosing message; <see cref="IsMalformed"/> names what the parser throws.
/// </summary>
public static class ProtobufInput
{
    private const int MaxDepth = 100;

    /// <summary>Whether <paramref name="ex"/>, thrown by a Google.Protobuf parse, means the input is malformed.</summary>
    public static bool IsMalformed(Exception ex) =>
        ex is InvalidProtocolBufferException or IndexOutOfRangeException or ArgumentOutOfRangeException;

    /// <summary>
    /// Null when every length in <paramref name="data"/>, read as a <paramref name="message"/>
    /// (nested messages included, by their descriptors), fits inside its enclosing message;
    /// otherwise why not.
    /// </summary>
    public static string? Check(MessageDescriptor message, ReadOnlySpan<byte> data) => Walk(message, data, 0);

    private static string? Walk(MessageDescriptor? message, ReadOnlySpan<byte> b, int depth)
    {
        if (depth > MaxDepth) return "messages nested too deeply";
        var i = 0;
        while (i < b.Length)
        {
            if (!TryVarint(b, ref i, out var tag)) return "truncated tag";
            var number = (int)Math.Min(tag >> 3, int.MaxValue);
            switch (tag & 7)
            {
                case 0:
                    if (!TryVarint(b, ref i, out _)) return "truncated varint";
                    break;
                case 1:
                    if (b.Length - i < 8) return "truncated fixed64";
                    i += 8;
                    break;
                case 5:
                    if (b.Length - i < 4) return "truncated fixed32";
                    i += 4;
                    break;
                case 2:
                    if (!TryVarint(b, ref i, out var length)) return "truncated length";
                    if (length > (ulong)(b.Length - i)) return $"field {number} announces {length} bytes, {b.Length - i} follow";
                    var field = message?.FindFieldByNumber(number);
                    if (field is { FieldType: FieldType.Message } && Walk(field.MessageType, b.Slice(i, (int)length), depth + 1) is { } inner)
                        return inner;
                    i += (int)length;
                    break;
                default:
                    // Groups: proto3 has none; the parser skips unknown ones with its own length checks unguarded.
                    return $"wire type {tag & 7} (groups) in field {number}";
            }
        }
        return null;
    }

    private static bool TryVarint(ReadOnlySpan<byte> b, ref int i, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 70 && i < b.Length; shift += 7)
        {
            var x = b[i++];
            value |= (ulong)(x & 0x7f) << shift;
            if (x < 0x80) return true;
        }
        return false;
    }
}
