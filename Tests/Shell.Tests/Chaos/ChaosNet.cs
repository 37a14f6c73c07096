namespace Raft.Shell.Tests.Chaos;

/// <summary>
/// The loopback network and iptables chain the chaos tests own. RAFT_CHAOS_NET (three octets,
/// 127.0.1 by default) and RAFT_CHAOS_CHAIN (RAFT_CHAOS by default) let two test runs on one machine
/// use disjoint addresses and rules.
/// </summary>
internal static class ChaosNet
{
    /// <summary>The first three octets of every member address, e.g. <c>127.0.1</c>.</summary>
    public static string Prefix { get; } = Read("RAFT_CHAOS_NET", "127.0.1", static v =>
        v.Split('.') is [ "127", var b, var c ] && byte.TryParse(b, out _) && byte.TryParse(c, out _));

    /// <summary>The iptables chain the firewall creates, jumps to from OUTPUT, and removes.</summary>
    public static string Chain { get; } = Read("RAFT_CHAOS_CHAIN", "RAFT_CHAOS", static v =>
        v.Length is > 0 and <= 28 && v.All(ch => char.IsAsciiLetterOrDigit(ch) || ch == '_'));

    /// <summary>Member <paramref name="index"/>'s address.</summary>
    public static string Address(int index) => $"{Prefix}.{index}";

    private static string Read(string name, string fallback, Func<string, bool> valid)
    {
        var v = Environment.GetEnvironmentVariable(name);
        if (string.IsNullOrEmpty(v)) return fallback;
        if (!valid(v)) throw new InvalidOperationException($"{name}=\"{v}\" is not valid");
        return v;
    }
}
