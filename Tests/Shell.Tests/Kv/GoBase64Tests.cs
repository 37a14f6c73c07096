using Raft.Kv.Http;

namespace Raft.Shell.Tests.Kv;

public class GoBase64Tests
{
    // Base64 text that is valid, or one edit away from it: every symbol, padding in and out of
    // place, line breaks, spaces, non-zero unused bits, stray characters, short quanta.
    private static byte[] Input(Random rng)
    {
        var bytes = new byte[rng.Next(0, 12)];
        rng.NextBytes(bytes);
        var text = Convert.ToBase64String(bytes).ToCharArray().ToList();
        var edits = rng.Next(0, 3);
        for (var e = 0; e < edits; e++)
        {
            var at = rng.Next(0, text.Count + 1);
            var c = "=\n\r \t!-_AZaz09+/"[rng.Next(16)];
            switch (rng.Next(3))
            {
                case 0: text.Insert(at, c); break;
                case 1 when text.Count > 0: text.RemoveAt(Math.Min(at, text.Count - 1)); break;
                default: if (at < text.Count) text[at] = c; break;
            }
        }
        return System.Text.Encoding.ASCII.GetBytes(text.ToArray());
    }

    private static bool AgreesWithGo(Func<byte[], (byte[]? Value, long Error)> decode)
    {
        var rng = new Random(3);
        for (var i = 0; i < 50_000; i++)
        {
            var input = Input(rng);
            var expected = GoBase64.DecodeGo(input, out var expectedError);
            var (actual, error) = decode(input);
            if (expected is null ? actual is not null || error != expectedError : actual is null || !expected.AsSpan().SequenceEqual(actual))
                return false;
        }
        return true;
    }

    [Fact]
    public void TheFastPathDecodesAsGoDoes()
    {
        Assert.True(AgreesWithGo(input => (GoBase64.Decode(input, out var e), e)));
        // A decoder that skips every kind of white space, as .NET's Convert does, is caught.
        Assert.False(AgreesWithGo(input =>
        {
            try
            {
                return (Convert.FromBase64String(System.Text.Encoding.ASCII.GetString(input)), -1);
            }
            catch (FormatException)
            {
                return (null, GoBase64.DecodeGo(input, out var e) is null ? e : -2);
            }
        }));
    }
}
