namespace Raft.Kv.Auth;

/// <summary>
/// The key ranges one user may read and write, merged from all its roles (etcd's range_perm_cache):
/// sorted, non-overlapping intervals, so that a range is permitted when one interval holds it whole,
/// even when it spans several grants that touch or overlap.
/// </summary>
public sealed class RangePermissions
{
    // [Start, End) with End null meaning no upper bound.
    private readonly record struct Interval(byte[] Start, byte[]? End);

    private readonly Interval[] _read;
    private readonly Interval[] _write;

    /// <summary>Merges <paramref name="permissions"/> (all the user's roles' grants).</summary>
    public RangePermissions(IEnumerable<KeyPermission> permissions)
    {
        var read = new List<Interval>();
        var write = new List<Interval>();
        foreach (var p in permissions)
        {
            var interval = ToInterval(p.Key, p.RangeEnd);
            if (interval is not { } i) continue;
            if (p.Type is AuthPermission.Read or AuthPermission.ReadWrite) read.Add(i);
            if (p.Type is AuthPermission.Write or AuthPermission.ReadWrite) write.Add(i);
        }
        _read = Merge(read);
        _write = Merge(write);
    }

    /// <summary>
    /// Whether <paramref name="key"/> (with <paramref name="rangeEnd"/> empty), or [key, rangeEnd),
    /// or every key from key on (rangeEnd the single byte 0) is within the user's grants of
    /// <paramref name="permission"/> (ReadWrite: both).
    /// </summary>
    public bool IsPermitted(ReadOnlySpan<byte> key, ReadOnlySpan<byte> rangeEnd, AuthPermission permission)
    {
        var wanted = ToInterval(key.ToArray(), rangeEnd.ToArray());
        if (wanted is not { } w) return false;
        return permission switch
        {
            AuthPermission.Read => Contains(_read, w),
            AuthPermission.Write => Contains(_write, w),
            _ => Contains(_read, w) && Contains(_write, w),
        };
    }

    // A single key k is the interval [k, k+"\0"); a range end of "\0" has no bound; an end at or
    // before the key is an empty range, which no grant covers (etcd refuses such a grant too).
    private static Interval? ToInterval(byte[] key, byte[] rangeEnd)
    {
        if (rangeEnd.Length == 0) return new Interval(key, [.. key, 0]);
        if (rangeEnd is [0]) return new Interval(key, null);
        return Compare(key, rangeEnd) < 0 ? new Interval(key, rangeEnd) : null;
    }

    private static Interval[] Merge(List<Interval> intervals)
    {
        intervals.Sort((a, b) => Compare(a.Start, b.Start));
        var merged = new List<Interval>();
        foreach (var i in intervals)
        {
            if (merged.Count > 0 && merged[^1] is var last && (last.End is null || Compare(i.Start, last.End) <= 0))
            {
                // Overlapping or touching: one interval up to the farther end.
                merged[^1] = last with { End = last.End is null || i.End is null ? null : Compare(last.End, i.End) >= 0 ? last.End : i.End };
                continue;
            }
            merged.Add(i);
        }
        return [.. merged];
    }

    private static bool Contains(Interval[] intervals, Interval wanted)
    {
        // The last interval starting at or before the wanted start is the only one that can hold it.
        int lo = 0, hi = intervals.Length - 1, found = -1;
        while (lo <= hi)
        {
            var mid = (lo + hi) / 2;
            if (Compare(intervals[mid].Start, wanted.Start) <= 0)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        if (found < 0) return false;
        var end = intervals[found].End;
        if (end is null) return true;
        return wanted.End is not null && Compare(wanted.End, end) <= 0;
    }

    private static int Compare(byte[] a, byte[] b) => a.AsSpan().SequenceCompareTo(b);
}
