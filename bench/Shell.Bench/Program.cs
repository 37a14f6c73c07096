using BenchmarkDotNet.Running;

namespace Raft.Shell.Bench;

internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "wal-figures") return WalFigures.Run(args[1..]);
        if (args.Length > 0 && args[0] == "mvcc-figures") return MvccFigures.Run(args[1..]);
        if (args.Length > 0 && args[0] == "mvcc-reopen") return ReopenFigures.Run(args[1..]);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
