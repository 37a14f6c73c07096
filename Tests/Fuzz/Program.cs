using SharpFuzz;

namespace Raft.Shell.Tests.Fuzz;

/// <summary>
/// <c>Raft.Fuzz TARGET</c> runs under afl-fuzz: each input goes to the named decoder; a documented
/// refusal is a normal exit, anything else escapes and AFL++ records a crash. <c>Raft.Fuzz --seeds
/// TARGET DIR</c> writes the target's seeds as AFL++'s starting corpus.
/// </summary>
public static class Program
{
    /// <summary>Entry point.</summary>
    public static int Main(string[] args)
    {
        if (args is ["--seeds", var name, var dir])
        {
            Directory.CreateDirectory(dir);
            var seeds = Find(name).Seeds();
            for (var i = 0; i < seeds.Count; i++) File.WriteAllBytes(Path.Combine(dir, $"seed-{i}"), seeds[i]);
            return 0;
        }
        if (args is not [var targetName])
        {
            Console.Error.WriteLine($"usage: Raft.Fuzz TARGET | --seeds TARGET DIR; targets: {string.Join(", ", FuzzTargets.All)}");
            return 2;
        }
        // Instrumented code may run only inside Run, once AFL++'s shared memory is set up: the
        // targets (whose static setup calls into the instrumented assemblies) are looked up there.
        FuzzTarget? target = null;
        Fuzzer.OutOfProcess.Run(stream =>
        {
            target ??= Find(targetName);
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            try
            {
                target.Run(copy.ToArray());
            }
            catch (Exception ex) when (target.IsRefusal(ex))
            {
            }
        });
        return 0;
    }

    private static FuzzTarget Find(string name) =>
        FuzzTargets.All.SingleOrDefault(t => t.Name == name) ?? throw new ArgumentException($"no target {name}");
}
