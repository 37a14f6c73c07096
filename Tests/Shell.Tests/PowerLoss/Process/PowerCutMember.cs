using System.Diagnostics;
using Raft.Shell.Tests.EndToEnd;

namespace Raft.Shell.Tests.PowerLoss.Process;

/// <summary>
/// A <c>raft serve</c> member run with <c>plfs.so</c> preloaded over its data directory, so that
/// after a SIGKILL <see cref="CutPower"/> takes away what it had not made durable, in its WAL and
/// snap files and in the MVCC store's LMDB file alike (LMDB writes through its own descriptors).
/// </summary>
internal sealed class PowerCutMember : IDisposable
{
    private readonly string _log;
    private readonly string _trash;

    public PowerCutMember(TempDir dir, string shim, string name, string host, string? token = null)
    {
        // The shim compares paths as given, so the data directory is named without links.
        var root = new DirectoryInfo(dir.Path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(dir.Path);
        Member = new Member(name, Path.Combine(root, name), token ?? "plfs-" + name, host);
        _log = Path.Combine(root, name + ".plfs.log");
        _trash = Path.Combine(root, name + ".plfs-trash");
        Directory.CreateDirectory(_trash);
        Member.Environment["LD_PRELOAD"] = shim;
        Member.Environment["PLFS_ROOT"] = Member.DataDir;
        Member.Environment["PLFS_LOG"] = _log;
        Member.Environment["PLFS_TRASH"] = _trash;
        // Every sync of the data directory starts 2 ms late, as on a slow disk: on this machine's
        // fast virtual disk a kill seldom fell between a write and its sync (a quiet run's first 3
        // cuts took nothing away), so the cuts would test little.
        Member.Environment["PLFS_SYNC_DELAY_US"] = "2000";
    }

    public Member Member { get; }

    /// <summary>How long the tests wait for a member to start, answer or catch up.</summary>
    public static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    /// <summary>Cycles of cuts: <paramref name="ciDefault"/>, or <c>RAFT_POWERLOSS_CYCLES</c> for a longer run.</summary>
    public static int Cycles(int ciDefault) =>
        int.TryParse(System.Environment.GetEnvironmentVariable("RAFT_POWERLOSS_CYCLES"), out var n) && n > 0 ? n : ciDefault;

    /// <summary>After a SIGKILL: the power cut (all unsynced changes lost, or torn by <paramref name="tear"/>).</summary>
    public CutReport CutPower(Random? tear)
    {
        Assert.False(Member.IsRunning, "cut the power of a running member");
        return UndoLog.Cut(Member.DataDir, _trash, _log, tear);
    }

    /// <summary>
    /// Compiles <c>plfs.c</c> (copied beside the tests) into <paramref name="dir"/> with gcc, which
    /// the CI script installs when missing.
    /// </summary>
    public static string BuildShim(string dir)
    {
        var source = Path.Combine(AppContext.BaseDirectory, "PowerLoss", "Process", "plfs.c");
        Assert.True(File.Exists(source), $"{source} is not beside the tests");
        var output = Path.Combine(dir, "plfs.so");
        var psi = new ProcessStartInfo("gcc") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-o", output, source, "-ldl", "-lpthread" })
            psi.ArgumentList.Add(a);
        using var gcc = System.Diagnostics.Process.Start(psi)!;
        var errors = gcc.StandardError.ReadToEnd();
        gcc.WaitForExit();
        Assert.True(gcc.ExitCode == 0, $"gcc could not build the power-cut library (libc6-dev and gcc are needed):\n{errors}");
        return output;
    }

    public void Dispose() => Member.Dispose();
}
