using System.Diagnostics;

namespace Raft.Shell.Tests.Chaos;

/// <summary>
/// Real network partitions between members on their own loopback addresses: DROP rules in an
/// iptables chain of the test's own, jumped to from OUTPUT and INPUT (loopback traffic passes
/// each once). The chain is created at construction (a stale one from a crashed run is removed
/// first) and flushed and deleted on dispose and at the test host's exit, so no rule outlives the
/// test. Rules only ever name the test's own addresses (ChaosNet.Prefix, 127.0.1.x by default).
/// <para>
/// A program that dials its peers without binding its own address (etcd does: its connections
/// leave from 127.0.0.1) is given its address by <see cref="SourceFrom"/>: a SNAT rule in the nat
/// table's chain of the same name rewrites the source of the connections its uid opens. The
/// rewrite happens after OUTPUT, so such a connection's packets meet the DROP rules in INPUT.
/// </para>
/// </summary>
internal sealed class Firewall : IDisposable
{
    /// <summary>The chain the test owns.</summary>
    public static string Chain => ChaosNet.Chain;

    private static readonly object Gate = new();
    private static Firewall? _current;
    private readonly HashSet<(string, string)> _blocked = [];
    private bool _disposed;
    private bool _natChain;

    static Firewall()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => _current?.Dispose();
    }

    public Firewall()
    {
        var version = Run("-V", check: false);
        Assert.True(version.Code == 0,
            $"iptables is needed for the partition tests and did not run ({version.Output.Trim()}); .ci/run installs it (apt-get install -y iptables); the tests must run as root");
        lock (Gate)
        {
            RemoveChain();
            Run($"-N {Chain}");
            Run($"-I OUTPUT -j {Chain}");
            Run($"-I INPUT -j {Chain}");
            _current = this;
        }
    }

    /// <summary>The pairs currently cut, each once (lower address first).</summary>
    public IReadOnlyCollection<(string, string)> Blocked
    {
        get { lock (Gate) return _blocked.ToArray(); }
    }

    /// <summary>Drops every packet between <paramref name="a"/> and <paramref name="b"/>, both ways.</summary>
    public void Block(string a, string b)
    {
        Assert.StartsWith(ChaosNet.Prefix + ".", a);
        Assert.StartsWith(ChaosNet.Prefix + ".", b);
        var pair = string.CompareOrdinal(a, b) < 0 ? (a, b) : (b, a);
        lock (Gate)
        {
            if (!_blocked.Add(pair)) return;
            Run($"-A {Chain} -s {a} -d {b} -j DROP");
            Run($"-A {Chain} -s {b} -d {a} -j DROP");
        }
    }

    /// <summary>
    /// Connections opened by processes of <paramref name="uid"/> to the test's addresses leave from
    /// <paramref name="address"/>, as if the program had bound it.
    /// </summary>
    public void SourceFrom(uint uid, string address)
    {
        Assert.StartsWith(ChaosNet.Prefix + ".", address);
        lock (Gate)
        {
            if (!_natChain)
            {
                Run($"-t nat -N {Chain}");
                Run($"-t nat -I POSTROUTING -j {Chain}");
                _natChain = true;
            }
            Run($"-t nat -A {Chain} -d {ChaosNet.Prefix}.0/24 -m owner --uid-owner {uid} -j SNAT --to-source {address}");
        }
    }

    /// <summary>Cuts every pair across the two sides.</summary>
    public void Split(IEnumerable<string> sideA, IEnumerable<string> sideB)
    {
        var b = sideB.ToArray();
        foreach (var x in sideA)
            foreach (var y in b)
                Block(x, y);
    }

    /// <summary>Removes every rule: the network is whole again.</summary>
    public void Heal()
    {
        lock (Gate)
        {
            Run($"-F {Chain}");
            _blocked.Clear();
        }
    }

    /// <summary>The chain's rules as iptables lists them, for diagnostics and the cleanup test.</summary>
    public static string List() => Run($"-S {Chain}", check: false).Output + Run($"-t nat -S {Chain}", check: false).Output;

    /// <summary>Whether the chain (or its nat twin) exists (neither may once a test has ended).</summary>
    public static bool ChainExists() =>
        Run($"-S {Chain}", check: false).Code == 0 || Run($"-t nat -S {Chain}", check: false).Code == 0;

    private static void RemoveChain()
    {
        // Every jump to the chains (there may be more than one after a crash), then the chains.
        while (Run($"-D OUTPUT -j {Chain}", check: false).Code == 0) { }
        while (Run($"-D INPUT -j {Chain}", check: false).Code == 0) { }
        Run($"-F {Chain}", check: false);
        Run($"-X {Chain}", check: false);
        while (Run($"-t nat -D POSTROUTING -j {Chain}", check: false).Code == 0) { }
        Run($"-t nat -F {Chain}", check: false);
        Run($"-t nat -X {Chain}", check: false);
    }

    public void Dispose()
    {
        lock (Gate)
        {
            if (_disposed) return;
            _disposed = true;
            RemoveChain();
            _natChain = false;
            _blocked.Clear();
            if (_current == this) _current = null;
        }
    }

    private static (int Code, string Output) Run(string args, bool check = true)
    {
        var psi = new ProcessStartInfo("iptables")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // -w: wait for the xtables lock rather than fail when another iptables runs.
        psi.ArgumentList.Add("-w");
        foreach (var a in args.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (check && p.ExitCode != 0)
                Assert.Fail($"iptables {args} failed ({p.ExitCode}): {output}");
            return (p.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            if (check) Assert.Fail($"iptables {args}: {ex.Message}");
            return (-1, ex.Message);
        }
    }
}
