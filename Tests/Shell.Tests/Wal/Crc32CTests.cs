using System.Text;
using Raft.Shell.Wal;

namespace Raft.Shell.Tests.Wal;

public class Crc32CTests
{
    [Theory]
    [InlineData("", 0x00000000u)]
    [InlineData("a", 0xc1d04330u)]
    [InlineData("123456789", 0xe3069283u)] // the CRC-32C check value
    [InlineData("The quick brown fox jumps over the lazy dog", 0x22620404u)]
    public void KnownVectors(string input, uint expected) =>
        Assert.Equal(expected, Crc32C.Compute(Encoding.ASCII.GetBytes(input)));

    [Fact]
    public void UpdateChainsLikeGo()
    {
        // Go's crc32.Update(crc, tab, p) continues a finished checksum: splitting the input anywhere gives the same value.
        var data = Encoding.ASCII.GetBytes("The quick brown fox jumps over the lazy dog");
        for (var cut = 0; cut <= data.Length; cut++)
            Assert.Equal(Crc32C.Compute(data), Crc32C.Update(Crc32C.Compute(data.AsSpan(0, cut)), data.AsSpan(cut)));
    }
}
