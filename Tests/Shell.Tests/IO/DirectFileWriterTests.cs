using Raft.Shell.IO;

namespace Raft.Shell.Tests.IO;

public class DirectFileWriterTests
{
    [Theory]
    [InlineData(new[] { 0 })]
    [InlineData(new[] { 1, 4095, 1 })]
    [InlineData(new[] { 4096 })]
    [InlineData(new[] { 4 << 20 })]
    [InlineData(new[] { 3, 5_000_000, 4 << 20, 17 })]
    public void TheFileHoldsExactlyTheBytesWritten(int[] pieces)
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "f");
        File.WriteAllBytes(path, new byte[9 << 20]); // a longer file is truncated, not overwritten in place
        var random = new Random(pieces.Sum());
        var expected = new List<byte>();
        using (var w = new DirectFileWriter(path))
        {
            foreach (var n in pieces)
            {
                var b = new byte[n];
                random.NextBytes(b);
                w.Write(b);
                expected.AddRange(b);
            }
            w.Complete();
        }
        Assert.Equal(expected.ToArray(), File.ReadAllBytes(path));
    }
}
