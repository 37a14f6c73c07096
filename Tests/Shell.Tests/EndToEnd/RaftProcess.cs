using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Raft.Shell.Tests.EndToEnd;

/// <summary>
/// One process of the <c>raft</c> executable (the Shell/Cli build copied beside the tests), run as
/// <c>dotnet raft.dll ...</c> (or of another program, see <see cref="StartProgram"/>) with its
/// standard output and error captured. Disposing it kills it
/// with SIGKILL, and so does the test host's exit, so a failing test leaves no process behind.
/// </summary>
internal sealed class RaftProcess : IDisposable
{
    private static readonly HashSet<RaftProcess> Running = [];
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    static RaftProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            RaftProcess[] all;
            lock (Running) all = [.. Running];
            foreach (var p in all)
                p.Kill();
        };
    }

    private RaftProcess(Process process) => _process = process;

    /// <summary>The built command line program.</summary>
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "raft.dll");

    /// <summary>The operating system's process id.</summary>
    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Completes when the process has exited.</summary>
    public Task Exited => _process.WaitForExitAsync();

    /// <summary>Everything the process wrote so far, standard output and error interleaved by line.</summary>
    public string Output
    {
        get
        {
            lock (_output) return _output.ToString();
        }
    }

    /// <summary>
    /// Starts <c>raft</c> with <paramref name="args"/>. <c>RAFT_FAILPOINTS</c> and <c>RAFT_PLANNER</c>
    /// are never inherited from the test host; <paramref name="environment"/> sets variables.
    /// </summary>
    public static RaftProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        Assert.True(File.Exists(Dll), $"the raft program is not built at {Dll}");
        return StartProgram(DotnetHost(), [Dll, .. args], environment);
    }

    /// <summary>
    /// Starts any <paramref name="program"/> (found on PATH unless a path is given) the same way:
    /// captured output, no core files, killed with the test host. The chaos comparison runs etcd so.
    /// </summary>
    public static RaftProcess StartProgram(string program, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        // Through sh only to switch core files off (a deliberate panic aborts the process); exec
        // keeps the process id, so the test kills the program itself.
        var psi = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("ulimit -c 0; exec \"$0\" \"$@\"");
        psi.ArgumentList.Add(program);
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        psi.Environment.Remove("RAFT_FAILPOINTS");
        psi.Environment.Remove("RAFT_PLANNER");
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
            psi.Environment[k] = v;

        var process = new Process { StartInfo = psi };
        var rp = new RaftProcess(process);
        process.OutputDataReceived += (_, e) => rp.Append(e.Data);
        process.ErrorDataReceived += (_, e) => rp.Append(e.Data);
        lock (Running)
        {
            process.Start();
            Running.Add(rp);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return rp;
    }

    private static string DotnetHost()
    {
        var self = Environment.ProcessPath;
        return self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_output) _output.AppendLine(line);
    }

    /// <summary>Waits until the output holds <paramref name="text"/>; false when the process exits or time runs out first.</summary>
    public async Task<bool> WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Output.Contains(text, StringComparison.Ordinal))
                return true;
            if (HasExited)
            {
                await WaitForExitAsync(TimeSpan.FromSeconds(5));
                return Output.Contains(text, StringComparison.Ordinal);
            }
            await Task.Delay(20);
        }
        return false;
    }

    /// <summary>Waits for the process to exit (and its output to be read); false on timeout.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>SIGKILL, then wait until the process is gone.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill();
            // The parameterless wait also drains the captured output.
            if (_process.WaitForExit(30_000))
                _process.WaitForExit();
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }
        lock (Running) Running.Remove(this);
    }

    /// <summary>SIGTERM: the program stops gracefully, as on Ctrl-C.</summary>
    public void Terminate()
    {
        if (!_process.HasExited)
            Assert.Equal(0, SendSignal(_process.Id, 15));
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
