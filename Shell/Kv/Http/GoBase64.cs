namespace Raft.Kv.Http;

/// <summary>
/// Standard base64 (with padding) decoded the way Go's encoding/base64 StdEncoding decodes it, which is
/// how etcd's gateway reads bytes fields: CR and LF are skipped, unused trailing bits are accepted, and
/// an error names the input byte where decoding failed ("illegal base64 data at input byte N").
/// </summary>
internal static class GoBase64
{
    private static readonly sbyte[] DecodeMap = BuildMap();

    private static sbyte[] BuildMap()
    {
        var map = new sbyte[256];
        Array.Fill(map, (sbyte)-1);
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (var i = 0; i < alphabet.Length; i++) map[alphabet[i]] = (sbyte)i;
        return map;
    }

    private static readonly System.Buffers.SearchValues<byte> Whitespace = System.Buffers.SearchValues.Create(" \t\r\n"u8);

    /// <summary>The decoded bytes, or null with the offset Go's CorruptInputError would report.</summary>
    public static byte[]? Decode(ReadOnlySpan<byte> src, out long errorOffset)
    {
        errorOffset = -1;
        // The usual input (no line breaks, whole quanta) goes through the runtime's vectorized decoder,
        // which Go agrees with there; whatever it refuses is decoded below, Go's way, for the verdict.
        if (src.Length % 4 == 0 && !src.ContainsAny(Whitespace))
        {
            var padding = src.Length == 0 ? 0 : src[^1] != (byte)'=' ? 0 : src[^2] == (byte)'=' ? 2 : 1;
            var fast = new byte[src.Length / 4 * 3 - padding];
            if (System.Buffers.Text.Base64.DecodeFromUtf8(src, fast, out var consumed, out var written) == System.Buffers.OperationStatus.Done
                && consumed == src.Length && written == fast.Length)
                return fast;
        }
        return DecodeGo(src, out errorOffset);
    }

    /// <summary>Go's decoder, symbol by symbol (what <see cref="Decode"/> must agree with).</summary>
    internal static byte[]? DecodeGo(ReadOnlySpan<byte> src, out long errorOffset)
    {
        errorOffset = -1;
        var dst = new byte[src.Length / 4 * 3 + 3];
        var n = 0;
        var si = 0;
        Span<byte> quantum = stackalloc byte[4];
        while (true)
        {
            // One quantum of up to four symbols (Go's decodeQuantum).
            var dlen = 4;
            var j = 0;
            for (; j < 4; j++)
            {
                if (si == src.Length)
                {
                    if (j == 0)
                    {
                        return n == dst.Length ? dst : dst.AsSpan(0, n).ToArray();
                    }
                    errorOffset = si - j;
                    return null;
                }
                var c = src[si++];
                var v = DecodeMap[c];
                if (v >= 0)
                {
                    quantum[j] = (byte)v;
                    continue;
                }
                if (c is (byte)'\n' or (byte)'\r')
                {
                    j--;
                    continue;
                }
                if (c != (byte)'=')
                {
                    errorOffset = si - 1;
                    return null;
                }
                // Padding: only after two or three symbols.
                if (j is 0 or 1)
                {
                    errorOffset = si - 1;
                    return null;
                }
                if (j == 2)
                {
                    // "==" expected: the first '=' is consumed.
                    while (si < src.Length && src[si] is (byte)'\n' or (byte)'\r') si++;
                    if (si == src.Length)
                    {
                        errorOffset = src.Length;
                        return null;
                    }
                    if (src[si] != (byte)'=')
                    {
                        errorOffset = si - 1;
                        return null;
                    }
                    si++;
                }
                while (si < src.Length && src[si] is (byte)'\n' or (byte)'\r') si++;
                if (si < src.Length)
                {
                    // Trailing garbage after the padding.
                    errorOffset = si;
                    return null;
                }
                dlen = j;
                break;
            }

            var val = (quantum[0] << 18) | (quantum[1] << 12) | (dlen > 2 ? quantum[2] << 6 : 0) | (dlen > 3 ? quantum[3] : 0);
            dst[n++] = (byte)(val >> 16);
            if (dlen > 2) dst[n++] = (byte)(val >> 8);
            if (dlen > 3) dst[n++] = (byte)val;
            if (dlen < 4) return dst.AsSpan(0, n).ToArray();
        }
    }
}
