using System.Globalization;
using System.Runtime.InteropServices;

namespace Raft.Shell.Node;

/// <summary>
/// The gofail sites: the seed's ten, where crash tests stop or slow the Ready loop (Core names them
/// on its effects), then those of etcd 3.5's apply side that this node mirrors (the apply loop hits them).
/// </summary>
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
    /// <summary>Apply side: before a leader's snapshot, already on disk, is opened and restored into the state machine.</summary>
    ApplyBeforeOpenSnapshot,
    /// <summary>Apply side: after the state machine was restored from a leader's snapshot, before the membership is.</summary>
    ApplyAfterOpenSnapshot,
    /// <summary>Apply side: before one normal (non conf change) committed entry is applied.</summary>
    BeforeApplyOneEntryNormal,
    /// <summary>Apply side: before one committed conf change is applied.</summary>
    BeforeApplyOneConfChange,
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
/// <c>sleep(ms)</c> (names are gofail's, e.g. <c>raftBeforeSave</c>). The node holds none at all
/// when nothing is armed and arming at run time is off, so an unarmed site costs one null check.
/// With <c>RAFT_FAILPOINTS_HTTP=1</c> the node always holds a set, which <see cref="Arm"/> and
/// <see cref="Disarm"/> change while it runs (as gofail's HTTP endpoint does; see <see cref="Handle"/>).
/// </summary>
internal sealed class FailpointSet
{
    /// <summary>The environment variable read by <see cref="FromEnvironment"/>.</summary>
    public const string EnvironmentVariable = "RAFT_FAILPOINTS";

    /// <summary>Set to <c>1</c> (or <c>true</c>) to let failpoints be armed while the member runs.</summary>
    public const string HttpVariable = "RAFT_FAILPOINTS_HTTP";

    /// <summary>Where <c>raft serve</c> serves the failpoints when <see cref="HttpVariable"/> is set.</summary>
    public const string HttpPath = "/debug/failpoints";

    // One reference per site, swapped whole, so a site never sees half of an action.
    private readonly Armed?[] _actions;
    private readonly int[] _hits;

    private sealed record Armed(FailpointAction Action);

    private FailpointSet(Armed?[] actions)
    {
        _actions = actions;
        _hits = new int[actions.Length];
    }

    private static readonly (FailpointSet? Set, string? Error) FromVariable = ReadVariable();

    /// <summary>
    /// The set armed by <c>RAFT_FAILPOINTS</c> in this process (an empty one when only
    /// <c>RAFT_FAILPOINTS_HTTP</c> is set), or null when neither is set or the first is malformed.
    /// </summary>
    public static FailpointSet? FromEnvironment => FromVariable.Set;

    /// <summary>Why <c>RAFT_FAILPOINTS</c> could not be parsed; null when it is fine or unset.</summary>
    public static string? EnvironmentError => FromVariable.Error;

    /// <summary>Whether <c>RAFT_FAILPOINTS_HTTP</c> lets failpoints be armed at run time in this process.</summary>
    public static bool HttpEnabled { get; } = IsOn(Environment.GetEnvironmentVariable(HttpVariable));

    /// <summary>Whether a value of <c>RAFT_FAILPOINTS_HTTP</c> switches arming at run time on.</summary>
    public static bool IsOn(string? value) => value?.Trim() is "1" or "true" or "TRUE" or "True";

    /// <summary>A set with nothing armed, to be armed at run time.</summary>
    public static FailpointSet Empty() => new(new Armed?[Enum.GetValues<Failpoint>().Length]);

    private static (FailpointSet?, string?) ReadVariable()
    {
        var text = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(text))
            // Not HttpEnabled: static initializers run in text order, and that one comes later.
            return (IsOn(Environment.GetEnvironmentVariable(HttpVariable)) ? Empty() : null, null);
        var set = TryParse(text, out var error);
        return (set, error is null ? null : $"{EnvironmentVariable}: {error}");
    }

    /// <summary>Parses a specification; null with an error message when it is malformed.</summary>
    public static FailpointSet? TryParse(string text, out string? error)
    {
        var set = Empty();
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
                error = UnknownName(name);
                return null;
            }
            if (!TryAction(term[(eq + 1)..].Trim(), out var action))
            {
                error = $"\"{term}\": action must be panic, exit, exit(code) or sleep(ms)";
                return null;
            }
            set.Arm(fp, action);
        }
        error = null;
        return set;
    }

    private static string UnknownName(string name) =>
        $"unknown failpoint \"{name}\" (known: {string.Join(", ", Enum.GetValues<Failpoint>().Select(SeedName))})";

    /// <summary>gofail's spelling of a failpoint (lower-case first letter).</summary>
    public static string SeedName(Failpoint fp)
    {
        var s = fp.ToString();
        return char.ToLowerInvariant(s[0]) + s[1..];
    }

    /// <summary>The failpoint gofail calls <paramref name="name"/> (case-sensitive).</summary>
    public static bool TryName(string name, out Failpoint fp)
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

    /// <summary>Parses one action: <c>panic</c>, <c>exit</c>, <c>exit(code)</c> or <c>sleep(ms)</c>.</summary>
    public static bool TryAction(string s, out FailpointAction action)
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

    /// <summary>The text form of an action, as <see cref="TryAction"/> reads it.</summary>
    public static string Format(FailpointAction action) => action.Kind switch
    {
        FailpointActionKind.Panic => "panic",
        FailpointActionKind.Exit => string.Create(CultureInfo.InvariantCulture, $"exit({action.Argument})"),
        _ => string.Create(CultureInfo.InvariantCulture, $"sleep({action.Argument})"),
    };

    /// <summary>The action armed at <paramref name="fp"/>, if any.</summary>
    public FailpointAction? ActionAt(Failpoint fp) => Volatile.Read(ref _actions[(int)fp])?.Action;

    /// <summary>Arms <paramref name="fp"/> with <paramref name="action"/>, replacing what was armed there.</summary>
    public void Arm(Failpoint fp, FailpointAction action) => Volatile.Write(ref _actions[(int)fp], new Armed(action));

    /// <summary>Disarms <paramref name="fp"/>; its hit count stays.</summary>
    public void Disarm(Failpoint fp) => Volatile.Write(ref _actions[(int)fp], null);

    /// <summary>How many times <paramref name="fp"/> was reached while armed.</summary>
    public int Hits(Failpoint fp) => Volatile.Read(ref _hits[(int)fp]);

    /// <summary>
    /// One request to the failpoints endpoint, gofail's HTTP interface under <see cref="HttpPath"/>:
    /// <c>GET</c> with no name lists every failpoint as <c>name=action hits=N</c> (<c>off</c> when
    /// disarmed), one per line; <c>GET</c> with a name gives its line; <c>PUT</c> with a name arms it
    /// with the body's action (<c>off</c> disarms); <c>DELETE</c> disarms. Unknown names are 404,
    /// malformed actions 400, other methods 405.
    /// </summary>
    /// <param name="method">The HTTP method.</param>
    /// <param name="name">The failpoint's name from the path; null or empty for the list.</param>
    /// <param name="body">The request body (the action for PUT).</param>
    /// <returns>The status code and the plain-text answer.</returns>
    public (int Status, string Text) Handle(string method, string? name, string body)
    {
        if (string.IsNullOrEmpty(name))
        {
            return method == "GET"
                ? (200, string.Concat(Enum.GetValues<Failpoint>().Select(fp => Line(fp) + "\n")))
                : (405, $"{method} is not allowed on the list; use GET\n");
        }
        if (!TryName(name, out var site))
            return (404, UnknownName(name) + "\n");
        switch (method)
        {
            case "GET":
                return (200, Line(site) + "\n");
            case "DELETE":
                Disarm(site);
                return (204, "");
            case "PUT":
                var text = body.Trim();
                if (text == "off")
                {
                    Disarm(site);
                    return (204, "");
                }
                if (!TryAction(text, out var action))
                    return (400, $"\"{text}\": action must be panic, exit, exit(code), sleep(ms) or off\n");
                Arm(site, action);
                return (204, "");
            default:
                return (405, $"{method} is not allowed; use GET, PUT or DELETE\n");
        }
    }

    private string Line(Failpoint fp) =>
        string.Create(CultureInfo.InvariantCulture, $"{SeedName(fp)}={(ActionAt(fp) is { } a ? Format(a) : "off")} hits={Hits(fp)}");

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
        if (Volatile.Read(ref _actions[(int)fp]) is not { } armed)
            return;
        var action = armed.Action;
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
