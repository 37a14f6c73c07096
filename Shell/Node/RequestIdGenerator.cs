namespace Raft.Shell.Node;

/// <summary>
/// etcd's idutil.Generator: unique request ids from the low 2 bytes of the member id, 5 bytes of
/// milliseconds at start-up and a counter that may carry into the timestamp. Ids differ across
/// members (prefix) and across restarts more than a millisecond apart (timestamp).
/// </summary>
internal sealed class RequestIdGenerator
{
    private const int TsLen = 5 * 8;
    private const int CntLen = 8;
    private const int SuffixLen = TsLen + CntLen;

    private readonly ulong _prefix;
    private long _suffix;

    /// <summary>A generator for <paramref name="memberId"/> started at <paramref name="now"/>.</summary>
    public RequestIdGenerator(ulong memberId, DateTimeOffset now)
    {
        _prefix = (ulong)(ushort)memberId << SuffixLen;
        var unixMilli = (ulong)now.ToUnixTimeMilliseconds();
        _suffix = (long)(LowBits(unixMilli, TsLen) << CntLen);
    }

    /// <summary>The next id.</summary>
    public ulong Next()
    {
        var suffix = (ulong)Interlocked.Increment(ref _suffix);
        return _prefix | LowBits(suffix, SuffixLen);
    }

    private static ulong LowBits(ulong x, int n) => x & (ulong.MaxValue >> (64 - n));
}
