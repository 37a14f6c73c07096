using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Raft.Cli;

/// <summary>
/// Gives back the memory a member's start leaves behind: one aggressive, compacting collection
/// once the member serves.
/// </summary>
/// <remarks>
/// A start reads the WAL (each entry copied on the way), walks the store to rebuild its index, and
/// builds the raft log it keeps, all at once: the garbage of the reading is promoted to the oldest
/// generation together with what stays, and the process runs with <c>System.GC.RetainVM</c> (see
/// Cli.csproj), so the GC would keep those pages committed for good. An aggressive collection
/// compacts the heap and decommits the free space whatever RetainVM says. A restarted member with
/// 100,000 keys of 256 bytes had about 59 MiB of anonymous memory without it and 46 MiB with it; with
/// 1,000,000 keys 413 and 352 MiB, for about 0.2 s of CPU (2 shared cores, bench/restart-read.sh).
/// </remarks>
internal static class StartupHeapTrim
{
    /// <summary>Collects the whole heap, compacting it and returning free memory to the kernel; logs what it gave back.</summary>
    public static void Run(ILogger log)
    {
        var before = GC.GetGCMemoryInfo().TotalCommittedBytes;
        var watch = Stopwatch.StartNew();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        var after = GC.GetGCMemoryInfo(GCKind.Any).TotalCommittedBytes;
        log.LogDebug("start's garbage collected in {Milliseconds} ms: heap committed {Before} MiB, now {After} MiB",
            watch.ElapsedMilliseconds, before >> 20, after >> 20);
    }
}
