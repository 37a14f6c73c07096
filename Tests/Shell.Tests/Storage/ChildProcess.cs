using System.Diagnostics;

namespace Raft.Shell.Tests.Storage;

/// <summary>Starts the WalCrashChild program (built beside the tests) as a separate process.</summary>
internal static class ChildProcess
{
    public static Process Start(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "WalCrashChild.dll");
        Assert.True(File.Exists(dll), $"child program not built at {dll}");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi) ?? throw new InvalidOperationException("could not start the child process");
    }

    /// <summary>Kills the child when disposed, so a failing test leaves no process behind.</summary>
    public static IDisposable KillOnDispose(Process p) => new Reaper(p);

    private sealed class Reaper(Process p) : IDisposable
    {
        public void Dispose()
        {
            try
            {
                if (!p.HasExited) p.Kill();
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
        }
    }

    public static (int Exit, string Output) Run(params string[] args)
    {
        using var p = Start(args);
        using var reaper = KillOnDispose(p);
        var output = p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), "child did not exit");
        return (p.ExitCode, output + error);
    }
}
