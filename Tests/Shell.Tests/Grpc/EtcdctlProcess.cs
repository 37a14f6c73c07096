using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Raft.Shell.Tests.Grpc;

/// <summary>
/// An etcdctl that keeps running (<c>lock</c>, <c>elect</c>): its output lines as they come, and
/// ways to end it as a user would (SIGINT, Ctrl-C) or as a crash would (SIGKILL). Disposing kills it.
/// </summary>
internal sealed class EtcdctlProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly System.Text.StringBuilder _stderr = new();
    private readonly SemaphoreSlim _changed = new(0);

    private EtcdctlProcess(Process process, string commandLine)
    {
        _process = process;
        CommandLine = commandLine;
    }

    public string CommandLine { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>Starts etcdctl with <paramref name="args"/> and reads its output from now on.</summary>
    public static EtcdctlProcess Start(IEnumerable<string> endpoints, params string[] args)
    {
        var psi = Etcdctl.StartInfo(endpoints, args);
        var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start etcdctl");
        var e = new EtcdctlProcess(p, Etcdctl.CommandLine(psi));
        p.OutputDataReceived += (_, a) =>
        {
            if (a.Data is null) return;
            lock (e._lines) e._lines.Add(a.Data);
            e._changed.Release();
        };
        p.ErrorDataReceived += (_, a) =>
        {
            if (a.Data is null) return;
            lock (e._lines) e._stderr.AppendLine(a.Data);
        };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return e;
    }

    /// <summary>The lines printed so far.</summary>
    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines) return _lines.ToList();
        }
    }

    /// <summary>
    /// True once a line equal to <paramref name="line"/> (or starting with it, with
    /// <paramref name="prefix"/>) is printed; false if none within <paramref name="timeout"/>.
    /// </summary>
    public async Task<bool> PrintsAsync(string line, TimeSpan timeout, bool prefix = false)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (Lines.Any(l => prefix ? l.StartsWith(line, StringComparison.Ordinal) : l == line)) return true;
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) return false;
            await _changed.WaitAsync(left);
        }
    }

    /// <summary>SIGINT, as Ctrl-C: etcdctl's handler resigns or unlocks before it exits.</summary>
    public void Interrupt()
    {
        if (!_process.HasExited) Assert.Equal(0, SendSignal(_process.Id, 2));
    }

    /// <summary>SIGKILL: the process ends without a word to the server; only its lease's expiry frees what it held.</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill();
    }

    public Task<bool> ExitsAsync(TimeSpan timeout) =>
        _process.WaitForExitAsync(new CancellationTokenSource(timeout).Token).ContinueWith(t => t.IsCompletedSuccessfully, TaskScheduler.Default);

    public override string ToString()
    {
        lock (_lines) return $"`{CommandLine}`{(_process.HasExited ? $" exited {_process.ExitCode}" : " running")}\nstdout: {string.Join("\n", _lines)}\nstderr: {_stderr}";
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already reaped.
        }
        _process.Dispose();
        _changed.Dispose();
    }
}
