using Google.Protobuf;

namespace Raft.Shell.IO;

/// <summary>
/// Protobuf's base-128 varint on spans, for the records framed by hand where a generated message
/// would cost a copy (WAL records, snap file headers). The C# side's only varint code: everything
/// else goes through Google.Protobuf's generated messages and CodedInputStream/CodedOutputStream.
/// Core keeps its own (Core/Codec.fs), as it depends on FSharp.Core only.
/// </summary>
internal static class Varint
{
    /// <summary>Bytes <paramref name="v"/> takes on the wire.</summary>
    public static int Size(ulong v) => CodedOutputStream.ComputeUInt64Size(v);

    /// <summary>Writes <paramref name="v"/> at the start of <paramref name="s"/>; returns its length.</summary>
    public static int Write(Span<byte> s, ulong v)
    {
        var n = 0;
        while (v >= 0x80)
        {
            s[n++] = (byte)(v | 0x80);
            v >>= 7;
        }
        s[n++] = (byte)v;
        return n;
    }

    /// <summary>Reads a varint at <paramref name="i"/>, moving past it; false when it is truncated or longer than 10 bytes.</summary>
    public static bool TryRead(ReadOnlySpan<byte> b, ref int i, out ulong v)
    {
        v = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (i >= b.Length) return false;
            var x = b[i++];
            v |= (ulong)(x & 0x7f) << shift;
            if (x < 0x80) return true;
        }
        return false;
    }
}
