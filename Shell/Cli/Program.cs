using System.CommandLine;

namespace Raft.Cli;

/// <summary>The <c>raft</c> command line.</summary>
public static class Program
{
    /// <summary>Entry point.</summary>
    public static int Main(string[] args)
    {
        var root = new RootCommand("A Raft consensus node for .NET in the shape of etcd's raft node.")
        {
            ServeCommand.Create(),
            LocalClusterCommand.Create(),
            WalDumpCommand.Create(),
            SnapshotRestoreCommand.Create(),
        };
        return root.Parse(args).Invoke();
    }
}
