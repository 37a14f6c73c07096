using System.Diagnostics;

namespace Raft.Shell.Tests.Fuzz;

/// <summary>An input that broke a decoder's contract, and how.</summary>
internal sealed record FuzzFinding(string Target, long Iteration, byte[] Input, string What)
{
    /// <inheritdoc/>
    public override string ToString() =>
        $"{Target}, input {Iteration} ({Input.Length} bytes, base64 {Convert.ToBase64String(Input.Length > 4096 ? Input[..4096] : Input)}): {What}";
}

/// <summary>What a campaign did: inputs tried, refusals, time, and the first findings.</summary>
internal sealed record FuzzReport(string Target, long Inputs, long Refused, TimeSpan Elapsed, IReadOnlyList<FuzzFinding> Findings)
{
    /// <inheritdoc/>
    public override string ToString() =>
        $"{Target}: {Inputs} inputs, {Refused} refused, {Elapsed.TotalSeconds:F1} s ({Inputs / Math.Max(Elapsed.TotalSeconds, 1e-9):F0}/s), {Findings.Count} findings";
}

/// <summary>
/// Feeds a target the seeds and then mutated inputs, one at a time on a dedicated thread, and
/// judges each call: success or a documented refusal passes; any other exception, a call longer
/// than <see cref="HangBound"/>, or one allocating more than <see cref="AllocationBound"/> is a finding.
/// </summary>
internal static class FuzzCampaign
{
    /// <summary>The environment variable setting inputs per decoder (the long run sets 1,000,000).</summary>
    public const string IterationsVariable = "RAFT_FUZZ_ITERATIONS";

    /// <summary>How long one input may take before it counts as a hang (2 shared cores, other work running).</summary>
    public static readonly TimeSpan HangBound = TimeSpan.FromSeconds(10);

    /// <summary>Bytes one input may make a decoder allocate: a fixed allowance plus a multiple of the input.</summary>
    public static long AllocationBound(int inputLength) => (16L << 20) + 64L * inputLength;

    /// <summary>Inputs per decoder: <see cref="IterationsVariable"/>, else <paramref name="ciDefault"/>.</summary>
    public static long Iterations(long ciDefault) =>
        long.TryParse(Environment.GetEnvironmentVariable(IterationsVariable), out var n) && n > 0 ? n : ciDefault;

    /// <summary>Runs <paramref name="iterations"/> inputs; stops early after <paramref name="maxFindings"/> findings.</summary>
    public static FuzzReport Run(FuzzTarget target, int seed, long iterations, int maxFindings = 5)
    {
        var seeds = target.Seeds();
        var mutator = new Mutator(new Random(seed), seeds);
        var findings = new List<FuzzFinding>();
        long done = 0, refused = 0;
        byte[] current = [];
        var started = Stopwatch.GetTimestamp();
        long inputStarted = 0;
        var worker = new Thread(Work, 16 << 20) { IsBackground = true, Name = $"fuzz {target.Name}" };
        void Work()
        {
            for (long i = 0; i < iterations && findings.Count < maxFindings; i++)
            {
                var input = i < seeds.Count ? seeds[(int)i] : mutator.Next();
                Volatile.Write(ref current, input);
                Volatile.Write(ref inputStarted, Stopwatch.GetTimestamp());
                var before = GC.GetAllocatedBytesForCurrentThread();
                try
                {
                    target.Run(input);
                }
                catch (Exception ex) when (target.IsRefusal(ex))
                {
                    refused++;
                }
                catch (Exception ex)
                {
                    lock (findings) findings.Add(new FuzzFinding(target.Name, i, input, $"{ex.GetType().Name}: {ex.Message}\n{ex.StackTrace}"));
                }
                var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                if (allocated > AllocationBound(input.Length))
                    lock (findings) findings.Add(new FuzzFinding(target.Name, i, input, $"allocated {allocated} bytes, bound {AllocationBound(input.Length)}"));
                Interlocked.Increment(ref done);
            }
            Volatile.Write(ref inputStarted, 0);
        }
        worker.Start();
        while (!worker.Join(TimeSpan.FromMilliseconds(200)))
        {
            var at = Volatile.Read(ref inputStarted);
            if (at != 0 && Stopwatch.GetElapsedTime(at) > HangBound)
            {
                // The worker is left behind (a background thread); the run reports the input that hung.
                lock (findings)
                    findings.Add(new FuzzFinding(target.Name, Interlocked.Read(ref done), Volatile.Read(ref current), $"no result after {HangBound.TotalSeconds} s"));
                break;
            }
        }
        lock (findings)
            return new FuzzReport(target.Name, Interlocked.Read(ref done), refused, Stopwatch.GetElapsedTime(started), [.. findings]);
    }
}
