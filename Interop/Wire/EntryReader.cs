using Core = Raft.Core;

namespace Raft.Interop.Wire;

/// <summary>
/// Decodes a raftpb.Entry straight from its bytes, for the entries a restart reads from the WAL
/// (hundreds of megabytes of them): the protobuf parser first copies the data field into a message
/// and walks the bytes twice (the length check, then the parse). This takes only the form etcd and
/// we write, each of type (1), term (2), index (3) and data (4) at most once, in any order, every
/// varint at most 9 bytes long and the type one etcd defines; anything else (a field twice, an
/// unknown field, a 10-byte varint, a truncated field) is refused, and the caller gives those
/// bytes to the protobuf parser, whose answer or error they keep.
/// </summary>
internal static class EntryReader
{
    private const int Type = 1, Term = 2, Index = 4, Data = 8;

    /// <summary>The entry in <paramref name="b"/>, its data copied once; false when the parser must decide.</summary>
    public static bool TryRead(ReadOnlySpan<byte> b, out Core.Entry entry)
    {
        entry = null!;
        ulong term = 0, index = 0, type = 0;
        int dataStart = 0, dataLength = 0, seen = 0, field;
        var i = 0;
        while (i < b.Length)
        {
            switch (b[i++])
            {
                case 0x08:
                    field = Type;
                    if (!TryVarint(b, ref i, out type)) return false;
                    break;
                case 0x10:
                    field = Term;
                    if (!TryVarint(b, ref i, out term)) return false;
                    break;
                case 0x18:
                    field = Index;
                    if (!TryVarint(b, ref i, out index)) return false;
                    break;
                case 0x22:
                    field = Data;
                    if (!TryVarint(b, ref i, out var length) || length > (ulong)(b.Length - i)) return false;
                    dataStart = i;
                    dataLength = (int)length;
                    i += dataLength;
                    break;
                default:
                    return false;
            }
            if ((seen & field) != 0) return false;
            seen |= field;
        }
        var kind = type switch
        {
            0 => Core.EntryType.EntryNormal,
            1 => Core.EntryType.EntryConfChange,
            2 => Core.EntryType.EntryConfChangeV2,
            _ => null,
        };
        if (kind is null) return false;
        var data = dataLength == 0 ? [] : GC.AllocateUninitializedArray<byte>(dataLength);
        b.Slice(dataStart, dataLength).CopyTo(data);
        entry = new Core.Entry(term, index, kind, data);
        return true;
    }

    // At most 9 bytes (63 bits), where every reader agrees on the value; longer ones go to the parser.
    private static bool TryVarint(ReadOnlySpan<byte> b, ref int i, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 63 && i < b.Length; shift += 7)
        {
            var x = b[i++];
            value |= (ulong)(x & 0x7f) << shift;
            if (x < 0x80) return true;
        }
        return false;
    }
}
