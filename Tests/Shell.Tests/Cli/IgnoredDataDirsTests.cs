using System.Diagnostics;

namespace Raft.Shell.Tests.Cli;

public class IgnoredDataDirsTests
{
    /// <summary>The data directories the README's commands create in the repository are ignored by git.</summary>
    [Theory]
    [InlineData("default.raft/member/wal/0.wal")]
    [InlineData("infra1.raft/member/wal/0.wal")]
    [InlineData("infra3.raft/member/snap/db")]
    [InlineData("local-cluster.raft/local-cluster.json")]
    [InlineData("n2.raft/member/wal/0.wal")]
    [InlineData("artifacts/packages/Raft.Node.0.1.0.nupkg")]
    public void TheReadmesDataDirectoriesAreIgnored(string path)
    {
        var repo = FindRepositoryRoot();
        var psi = new ProcessStartInfo("git", ["check-ignore", "--no-index", "-q", path])
        {
            WorkingDirectory = repo,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var git = Process.Start(psi)!;
        var error = git.StandardError.ReadToEnd();
        git.WaitForExit();
        // 0: ignored; 1: not ignored; anything else: git could not tell.
        Assert.True(git.ExitCode == 0, $"{path} is not ignored (git check-ignore exit {git.ExitCode}) {error}");
    }

    [Theory]
    [InlineData("README.md")]
    [InlineData("samples/ReplicatedDictionary.Console/Program.cs")]
    public void SourcesAreNotIgnored(string path)
    {
        var psi = new ProcessStartInfo("git", ["check-ignore", "--no-index", "-q", path])
        {
            WorkingDirectory = FindRepositoryRoot(),
            UseShellExecute = false,
        };
        using var git = Process.Start(psi)!;
        git.WaitForExit();
        Assert.Equal(1, git.ExitCode);
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Raft.sln")))
                return dir.FullName;
        throw new InvalidOperationException($"no Raft.sln above {AppContext.BaseDirectory}");
    }
}
