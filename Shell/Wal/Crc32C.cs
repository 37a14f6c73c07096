using System.Buffers.Binary;
using System.Numerics;

namespace Raft.Shell.Wal;

/// <summary>
/// CRC-32C (Castagnoli) with Go's hash/crc32 conditioning: <c>Update(crc, p)</c> equals Go's
/// <c>crc32.Update(crc, crc32.MakeTable(crc32.Castagnoli), p)</c>, so a running value can be
/// carried from one record to the next as etcd does. Uses the CPU's crc32 instruction.
/// </summary>
internal static class Crc32C
{
    /// <summary>Continues <paramref name="crc"/> over <paramref name="data"/>.</summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        var c = ~crc;
        while (data.Length >= 8)
        {
            c = BitOperations.Crc32C(c, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (var b in data) c = BitOperations.Crc32C(c, b);
        return ~c;
    }

    /// <summary>The CRC-32C of <paramref name="data"/> from zero.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Update(0, data);
}
