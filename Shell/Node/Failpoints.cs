using System.Globalization;
using System.Runtime.InteropServices;

namespace Raft.Shell.Node;

/// <summary>The seed's gofail sites, where crash tests stop or slow the Ready loop.</summary>
internal enum Failpoint
{
    /// <summary>Before the save that precedes apply when committed entries overlap unstable ones.</summary>
    RaftBeforeSaveWaitWalSync,
    /// <summary>Before a leader sends its messages (ahead of its own disk writes).</summary>
    RaftBeforeLeaderSend,
    /// <summary>Before the snapshot file and WAL snapshot record are written.</summary>
    RaftBeforeSaveSnap,
    /// <summary>After the snapshot file and WAL snapshot record are written.</summary>
    RaftAfterSaveSnap,
    /// <summary>Before the hard state and entries are appended to the WAL (after apply was handed out).</summary>
    RaftBeforeSave,
    /// <summary>After the hard state and entries are appended to the WAL.</summary>
    RaftAfterSave,
    /// <summary>Before an incoming snapshot is applied to the in-memory log.</summary>
    RaftBeforeApplySnap,
    /// <summary>After an incoming snapshot is applied to the in-memory log.</summary>
    RaftAfterApplySnap,
    /// <summary>After WAL segments older than a snapshot are released.</summary>
    RaftAfterWALRelease,
    /// <summary>Before a follower or candidate sends its messages (after its disk writes).</summary>
    RaftBeforeFollowerSend,
}

/// <summary>What an armed failpoint does when reached.</summary>
/// <param name="Kind">panic, exit or sleep.</param>
/// <param name="Argument">Exit code for exit, milliseconds for sleep.</param>
internal readonly record struct FailpointAction(FailpointActionKind Kind, int Argument);

/// <summary>The actions gofail offers that crash tests use.</summary>
internal enum FailpointActionKind
{
    /// <summary>Crash the process as an unhandled panic would (Environment.FailFast).</summary>
    Panic,
    /// <summary>Exit the process with the given code.</summary>
    Exit,
    /// <summary>Block the calling thread for the given milliseconds.</summary>
    Sleep,
}

/// <summary>
/// A set of armed failpoints, parsed from the <c>RAFT_FAILPOINTS</c> form
/// <c>name=action;name=action</c> with actions <c>panic</c>, <c>exit</c>, <c>exit(code)</c> and
/// <c>sleep(ms)</c> (names are the seed's, e.g. <c>raftBeforeSave</c>). The node holds none at all
/// when nothing is armed, so an unarmed site costs one null check.
/// </summary>
internal sealed class FailpointSet
{
    /// <summary>The environment variable read by <see cref="FromEnvironment"/>.</summary>
    public const string EnvironmentVariable = "RAFT_FAILPOINTS";

    private readonly FailpointAction?[] _actions;
    private readonly int[] _hits;

    private FailpointSet(FailpointAction?[] actions)
    {
        _actions = actions;
        _hits = new int[actions.Length];
    }

    private static readonly (FailpointSet? Set, string? Error) FromVariable = ReadVariable();

    /// <summary>The set armed by <c>RAFT_FAILPOINTS</c> in this process, or null when it is unset, empty or malformed.</summary>
    public static FailpointSet? FromEnvironment => FromVariable.Set;

    /// <summary>Why <c>RAFT_FAILPOINTS</c> could not be parsed; null when it is fine or unset.</summary>
    public static string? EnvironmentError => FromVariable.Error;

    private static (FailpointSet?, string?) ReadVariable()
    {
        var text = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(text))
            return (null, null);
        var set = TryParse(text, out var error);
        return (set, error is null ? null : $"{EnvironmentVariable}: {error}");
    }

    /// <summary>Parses a specification; null with an error message when it is malformed.</summary>
    public static FailpointSet? TryParse(string text, out string? error)
    {
        var actions = new FailpointAction?[Enum.GetValues<Failpoint>().Length];
        foreach (var term in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = term.IndexOf('=');
            if (eq <= 0)
            {
                error = $"\"{term}\": want name=action";
                return null;
            }
            var name = term[..eq].Trim();
            if (!TryName(name, out var fp))
            {
                error = $"unknown failpoint \"{name}\" (known: {string.Join(", ", Enum.GetValues<Failpoint>().Select(SeedName))})";
                return null;
            }
            if (!TryAction(term[(eq + 1)..].Trim(), out var action))
            {
                error = $"\"{term}\": action must be panic, exit, exit(code) or sleep(ms)";
                return null;
            }
            actions[(int)fp] = action;
        }
        error = null;
        return new FailpointSet(actions);
    }

    /// <summary>The seed's spelling of a failpoint (lower-case first letter).</summary>
    public static string SeedName(Failpoint fp)
    {
        var s = fp.ToString();
        return char.ToLowerInvariant(s[0]) + s[1..];
    }

    private static bool TryName(string name, out Failpoint fp)
    {
        foreach (var v in Enum.GetValues<Failpoint>())
        {
            if (string.Equals(SeedName(v), name, StringComparison.Ordinal))
            {
                fp = v;
                return true;
            }
        }
        fp = default;
        return false;
    }

    private static bool TryAction(string s, out FailpointAction action)
    {
        action = default;
        if (s == "panic")
        {
            action = new(FailpointActionKind.Panic, 0);
            return true;
        }
        if (s == "exit")
        {
            action = new(FailpointActionKind.Exit, 1);
            return true;
        }
        foreach (var (prefix, kind) in new[] { ("exit(", FailpointActionKind.Exit), ("sleep(", FailpointActionKind.Sleep) })
        {
            if (s.StartsWith(prefix, StringComparison.Ordinal) && s.EndsWith(')')
                && int.TryParse(s.AsSpan(prefix.Length, s.Length - prefix.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                action = new(kind, n);
                return true;
            }
        }
        return false;
    }

    /// <summary>The action armed at <paramref name="fp"/>, if any.</summary>
    public FailpointAction? ActionAt(Failpoint fp) => _actions[(int)fp];

    /// <summary>How many times <paramref name="fp"/> was reached while armed.</summary>
    public int Hits(Failpoint fp) => Volatile.Read(ref _hits[(int)fp]);

    // Leave at once, like a crash with an exit code: no shutdown handlers that could wait for the
    // very thread that stands here.
    private static void ExitNow(int code)
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
            NativeExit(code);
        Environment.Exit(code);
    }

    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void NativeExit(int code);

    /// <summary>Runs the action armed at <paramref name="fp"/>; nothing when it is not armed.</summary>
    public void Hit(Failpoint fp)
    {
        if (_actions[(int)fp] is not { } action)
            return;
        Interlocked.Increment(ref _hits[(int)fp]);
        switch (action.Kind)
        {
            case FailpointActionKind.Panic:
                Environment.FailFast($"failpoint {SeedName(fp)}: panic");
                break;
            case FailpointActionKind.Exit:
                Console.Error.WriteLine($"failpoint {SeedName(fp)}: exit({action.Argument})");
                Console.Error.Flush();
                ExitNow(action.Argument);
                break;
            case FailpointActionKind.Sleep:
                Thread.Sleep(action.Argument);
                break;
        }
    }
}
