using Raft.Kv.Auth;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Kv.Auth;

/// <summary>
/// Random grants and ranges, <see cref="RangePermissions"/> against a model that checks points: a
/// range is covered when every point that could start a gap in it (the range's start, every grant's
/// start and end) lies in some grant. Shown to catch a checker that does not merge grants.
/// </summary>
public class RangePermissionsPropertyTests(ITestOutputHelper output)
{
    private static readonly byte[][] Alphabet = [[(byte)'a'], [(byte)'b'], [(byte)'c'], [0xff]];

    private static byte[] RandomKey(Random r, int maxLength)
    {
        var length = r.Next(1, maxLength + 1);
        return Enumerable.Range(0, length).SelectMany(_ => Alphabet[r.Next(Alphabet.Length)]).ToArray();
    }

    private static int Cmp(byte[] a, byte[] b) => a.AsSpan().SequenceCompareTo(b);

    // [start, end) with null end unbounded; empty rangeEnd is the single key.
    private static (byte[] Start, byte[]? End)? Interval(byte[] key, byte[] rangeEnd) =>
        rangeEnd.Length == 0 ? (key, [.. key, 0]) : rangeEnd is [0] ? (key, null) : Cmp(key, rangeEnd) < 0 ? (key, rangeEnd) : null;

    private static bool In((byte[] Start, byte[]? End) i, byte[] p) => Cmp(i.Start, p) <= 0 && (i.End is null || Cmp(p, i.End) < 0);

    private static bool Model(IReadOnlyList<KeyPermission> grants, byte[] key, byte[] rangeEnd, AuthPermission wanted)
    {
        if (Interval(key, rangeEnd) is not { } q) return false;
        bool Covered(AuthPermission type)
        {
            var held = grants.Where(g => g.Type == type || g.Type == AuthPermission.ReadWrite).Select(g => Interval(g.Key, g.RangeEnd)).OfType<(byte[], byte[]?)>().ToList();
            var points = held.SelectMany(h => h.Item2 is null ? new[] { h.Item1 } : [h.Item1, h.Item2]).Append(q.Start).Where(p => In(q, p));
            return points.All(p => held.Any(h => In(h, p)));
        }
        return wanted switch
        {
            AuthPermission.Read => Covered(AuthPermission.Read),
            AuthPermission.Write => Covered(AuthPermission.Write),
            _ => Covered(AuthPermission.Read) && Covered(AuthPermission.Write),
        };
    }

    // The broken variant: a range must lie within one grant (no merging of touching or overlapping grants).
    private static bool Unmerged(IReadOnlyList<KeyPermission> grants, byte[] key, byte[] rangeEnd, AuthPermission wanted)
    {
        if (Interval(key, rangeEnd) is not { } q) return false;
        bool One(AuthPermission type) => grants.Where(g => g.Type == type || g.Type == AuthPermission.ReadWrite)
            .Select(g => Interval(g.Key, g.RangeEnd)).OfType<(byte[], byte[]?)>()
            .Any(h => Cmp(h.Item1, q.Start) <= 0 && (h.Item2 is null || (q.End is not null && Cmp(q.End, h.Item2) <= 0)));
        return wanted == AuthPermission.ReadWrite ? One(AuthPermission.Read) && One(AuthPermission.Write) : One(wanted);
    }

    private static byte[] RandomEnd(Random r, byte[] key) => r.Next(6) switch
    {
        0 => [],
        1 => [0],
        _ => RandomKey(r, 3),
    };

    /// <summary>Runs <paramref name="cases"/> random cases; the first disagreement with the model, or null.</summary>
    private static string? FirstDisagreement(Random r, int cases, Func<IReadOnlyList<KeyPermission>, byte[], byte[], AuthPermission, bool> checker)
    {
        for (var i = 0; i < cases; i++)
        {
            var grants = Enumerable.Range(0, r.Next(0, 6)).Select(_ =>
            {
                var key = RandomKey(r, 2);
                return new KeyPermission((AuthPermission)r.Next(3), key, RandomEnd(r, key));
            }).ToList();
            for (var q = 0; q < 20; q++)
            {
                var key = RandomKey(r, 3);
                var end = RandomEnd(r, key);
                var wanted = (AuthPermission)r.Next(3);
                var expected = Model(grants, key, end, wanted);
                if (checker(grants, key, end, wanted) != expected)
                    return $"case {i}: grants [{string.Join(", ", grants.Select(g => $"{g.Type} {Convert.ToHexString(g.Key)}..{Convert.ToHexString(g.RangeEnd)}"))}], "
                        + $"{wanted} {Convert.ToHexString(key)}..{Convert.ToHexString(end)}: expected {expected}";
            }
        }
        return null;
    }

    [Fact]
    public void Agrees_with_the_point_model()
    {
        var r = TestSeed.NewRandom(output.WriteLine);
        var failure = FirstDisagreement(r, 3000, (g, k, e, w) => new RangePermissions(g).IsPermitted(k, e, w));
        Assert.True(failure is null, $"{failure} ({TestSeed.Describe})");
    }

    [Fact]
    public void The_model_catches_a_checker_that_does_not_merge_grants()
    {
        var r = TestSeed.NewRandom(output.WriteLine);
        Assert.NotNull(FirstDisagreement(r, 3000, Unmerged));
    }
}
