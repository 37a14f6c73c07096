using System.Diagnostics;
using System.Globalization;
using Raft.Testing.Linearizability;
using Raft.Testing.Tests;

// Times the checker on simulated histories of a register per key (linearizable by construction),
// and on the same history with one read corrupted. Usage:
//   dotnet run --project bench/Testing.Bench -c Release [-- operations keys clients runs unknown-write-%]
// RAFT_LIN_SEED picks the history (default 1).

int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;
int operations = Arg(0, 100_000), keys = Arg(1, 100), clients = Arg(2, 10), runs = Arg(3, 5);
double unknownRate = Arg(4, 2) / 100.0;
int seed = int.Parse(Environment.GetEnvironmentVariable("RAFT_LIN_SEED") ?? "1", CultureInfo.InvariantCulture);

Console.WriteLine($".NET {Environment.Version}, {Environment.ProcessorCount} cores, {RuntimeInfoOs()}");
Console.WriteLine($"seed {seed}: {operations} operations over {keys} keys from {clients} clients; median of {runs} runs");

var history = RegisterSimulation.Generate(new Random(seed), new SimulationShape(clients, keys, operations, UnknownWriteRate: unknownRate));
Console.WriteLine($"history: {history.Count} operations kept, {history.Count(o => o.OutcomeUnknown)} with unknown outcome");

Measure("linearizable, all cores", history, Environment.ProcessorCount, CheckOutcome.Ok);
Measure("linearizable, 1 core", history, 1, CheckOutcome.Ok);

var corrupted = history.ToList();
int victim = corrupted.FindIndex(corrupted.Count / 2, o => o.Input.IsRead && !o.OutcomeUnknown);
corrupted[victim] = corrupted[victim] with { Output = KvOutput.Read("never-written") };
Measure("one read corrupted, all cores", corrupted, Environment.ProcessorCount, CheckOutcome.Illegal);

var oneKey = RegisterSimulation.Generate(new Random(seed), new SimulationShape(clients, 1, operations / 10, UnknownWriteRate: unknownRate));
Measure($"{oneKey.Count} operations on one key", oneKey, 1, CheckOutcome.Ok);

void Measure(string name, List<Operation<KvInput, KvOutput>> h, int parallelism, CheckOutcome expected)
{
    var options = new CheckOptions { MaxDegreeOfParallelism = parallelism };
    LinearizabilityChecker.Check(KvModel.Instance, h, options); // warm-up
    var times = new List<double>();
    var cpu = new List<double>();
    var process = Process.GetCurrentProcess();
    CheckResult<KvInput, KvOutput>? result = null;
    long allocated = 0;
    for (int r = 0; r < runs; r++)
    {
        GC.Collect();
        long before = GC.GetTotalAllocatedBytes(precise: true);
        process.Refresh();
        var cpuBefore = process.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        result = LinearizabilityChecker.Check(KvModel.Instance, h, options);
        times.Add(sw.Elapsed.TotalMilliseconds);
        process.Refresh();
        cpu.Add((process.TotalProcessorTime - cpuBefore).TotalMilliseconds);
        allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
    }
    times.Sort();
    cpu.Sort();
    double median = times[times.Count / 2];
    if (result!.Outcome != expected) throw new InvalidOperationException($"{name}: expected {expected}, got {result.Describe()}");
    long steps = result.Partitions.Sum(p => p.Steps);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{name,-34} {result.Outcome,-8} {median,8:0.0} ms  (min {times[0]:0.0}, max {times[^1]:0.0}; CPU {cpu[cpu.Count / 2]:0} ms)  " +
        $"{h.Count / median * 1000,10:N0} ops/s  {steps,9} steps  {allocated / 1048576.0,6:0.0} MiB allocated"));
}

static string RuntimeInfoOs() => System.Runtime.InteropServices.RuntimeInformation.OSDescription;
