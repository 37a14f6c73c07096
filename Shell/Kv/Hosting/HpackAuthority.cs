using System.Buffers;
using System.Reflection;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Raft.Kv.Hosting;

/// <summary>
/// Rewrites the HTTP/2 <c>:authority</c> of a request whose value is a whole URL
/// (<c>http://127.0.0.1:2379</c>) into a host and port of the same length, inside an HPACK header
/// block (RFC 7541), leaving every other byte as it was.
/// </summary>
/// <remarks>
/// etcdctl 3.4 dials its maintenance calls (endpoint status and hashkv, move-leader, defrag,
/// snapshot) with the endpoint as the user wrote it, scheme included, and gRPC-Go sends that as the
/// authority. Go's server ignores it; Kestrel validates it as a Host header and resets the stream.
/// The new value has the same decoded length (the port is padded with zeros: <c>127.0.0.1:00000002379</c>)
/// because HPACK's dynamic table counts entry sizes: Kestrel's table must stay the size of the
/// client's, or every later index would point elsewhere.
/// </remarks>
internal static class HpackAuthority
{
    // RFC 7541 appendix A: :authority is entry 1 of the static table.
    private const int AuthorityIndex = 1;

    /// <summary>The block with its URL-valued authorities rewritten, or null when there is nothing to rewrite.</summary>
    public static byte[]? Rewrite(ReadOnlySpan<byte> block)
    {
        ArrayBufferWriter<byte>? output = null;
        var copied = 0;
        var pos = 0;
        try
        {
            while (pos < block.Length)
            {
                var b = block[pos];
                if ((b & 0x80) != 0)
                {
                    // Indexed field.
                    ReadInt(block, ref pos, 7);
                    continue;
                }
                if ((b & 0xE0) == 0x20)
                {
                    // Dynamic table size update.
                    ReadInt(block, ref pos, 5);
                    continue;
                }
                // A literal: with incremental indexing (01), without indexing (0000) or never indexed (0001).
                var nameIndex = ReadInt(block, ref pos, (b & 0x40) != 0 ? 6 : 4);
                var isAuthority = nameIndex == AuthorityIndex;
                if (nameIndex == 0)
                {
                    var (nameStart, nameLength, nameHuffman) = ReadString(block, ref pos);
                    var name = nameHuffman ? Huffman.Decode(block.Slice(nameStart, nameLength)) : block.Slice(nameStart, nameLength).ToArray();
                    isAuthority = name is not null && name.AsSpan().SequenceEqual(":authority"u8);
                }
                var valueAt = pos;
                var (start, length, huffman) = ReadString(block, ref pos);
                if (!isAuthority) continue;
                var value = huffman ? Huffman.Decode(block.Slice(start, length)) : block.Slice(start, length).ToArray();
                if (value is null || HostOfUrl(value) is not { } host) continue;
                output ??= new ArrayBufferWriter<byte>(block.Length + 16);
                output.Write(block[copied..valueAt]);
                WriteInt(output, 0x00, 7, host.Length);
                output.Write(host);
                copied = pos;
            }
        }
        catch (IndexOutOfRangeException)
        {
            // A malformed block goes to Kestrel as it came, which refuses it as it always has.
            return null;
        }
        if (output is null) return null;
        output.Write(block[copied..]);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>
    /// <c>scheme://host[:port][/...]</c> as <c>host:port</c> of the same length, the port padded with
    /// leading zeros (a port of zeros when there was none); null when the value is not such a URL.
    /// </summary>
    internal static byte[]? HostOfUrl(byte[] value)
    {
        var text = Encoding.ASCII.GetString(value);
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        if (scheme <= 0) return null;
        var rest = text[(scheme + 3)..];
        if (rest.IndexOf('/') is var slash and >= 0) rest = rest[..slash];
        var colon = rest.LastIndexOf(':');
        var hasPort = colon > rest.LastIndexOf(']');
        var host = hasPort ? rest[..colon] : rest;
        var port = hasPort ? rest[(colon + 1)..] : "";
        var zeros = text.Length - host.Length - 1 - port.Length;
        if (host.Length == 0 || zeros < 0 || !port.All(char.IsAsciiDigit)) return null;
        return Encoding.ASCII.GetBytes(host + ":" + new string('0', zeros) + port);
    }

    internal static int ReadInt(ReadOnlySpan<byte> span, ref int pos, int prefixBits)
    {
        var mask = (1 << prefixBits) - 1;
        var value = span[pos++] & mask;
        if (value < mask) return value;
        var shift = 0;
        byte b;
        do
        {
            b = span[pos++];
            value += (b & 0x7F) << shift;
            shift += 7;
        }
        while ((b & 0x80) != 0 && shift <= 21);
        return value;
    }

    internal static void WriteInt(IBufferWriter<byte> output, byte flags, int prefixBits, int value)
    {
        var mask = (1 << prefixBits) - 1;
        if (value < mask)
        {
            output.Write([(byte)(flags | value)]);
            return;
        }
        var bytes = new List<byte> { (byte)(flags | mask) };
        value -= mask;
        while (value >= 0x80)
        {
            bytes.Add((byte)((value & 0x7F) | 0x80));
            value >>= 7;
        }
        bytes.Add((byte)value);
        output.Write(bytes.ToArray());
    }

    private static (int Start, int Length, bool Huffman) ReadString(ReadOnlySpan<byte> span, ref int pos)
    {
        var huffman = (span[pos] & 0x80) != 0;
        var length = ReadInt(span, ref pos, 7);
        var start = pos;
        if (length > span.Length - start) throw new IndexOutOfRangeException();
        pos += length;
        return (start, length, huffman);
    }

    /// <summary>
    /// HPACK's Huffman code (RFC 7541 appendix B), taken from ASP.NET Core's own HPACK implementation
    /// so the table is not typed in twice; null (no rewriting) if that internal type ever changes.
    /// </summary>
    internal static class Huffman
    {
        private static readonly Dictionary<(int Length, uint Code), int>? Codes = Load();

        public static bool Available => Codes is not null;

        private static Dictionary<(int, uint), int>? Load()
        {
            try
            {
                var encode = typeof(KestrelServerOptions).Assembly.GetType("System.Net.Http.HPack.Huffman")
                    ?.GetMethod("Encode", BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic, [typeof(int)]);
                if (encode is null) return null;
                var codes = new (uint Code, int Length)[257];
                for (var s = 0; s <= 256; s++)
                    codes[s] = ((uint, int))encode.Invoke(null, [s])!;
                // The table keeps codes left-aligned in 32 bits; EOS (30 one bits) shows which way.
                var leftAligned = codes[256].Code >> 30 != 0;
                var table = new Dictionary<(int, uint), int>();
                for (var s = 0; s <= 256; s++)
                {
                    var (code, length) = codes[s];
                    table[(length, leftAligned ? code >> (32 - length) : code)] = s;
                }
                return table.Count == 257 ? table : null;
            }
            catch (Exception ex) when (ex is TargetInvocationException or InvalidCastException or AmbiguousMatchException)
            {
                return null;
            }
        }

        /// <summary>The decoded bytes, or null when they are not valid Huffman code (or the table is missing).</summary>
        public static byte[]? Decode(ReadOnlySpan<byte> encoded)
        {
            if (Codes is null) return null;
            var output = new List<byte>(encoded.Length * 8 / 5);
            uint code = 0;
            var length = 0;
            foreach (var b in encoded)
            {
                for (var bit = 7; bit >= 0; bit--)
                {
                    code = (code << 1) | (uint)((b >> bit) & 1);
                    length++;
                    if (Codes.TryGetValue((length, code), out var symbol))
                    {
                        if (symbol == 256) return null;
                        output.Add((byte)symbol);
                        code = 0;
                        length = 0;
                    }
                    else if (length > 30)
                    {
                        return null;
                    }
                }
            }
            // Padding: fewer than 8 bits, all ones (a prefix of EOS).
            if (length > 7 || code != (1u << length) - 1) return null;
            return [.. output];
        }
    }
}
