using System.Net.Security;
using System.Security.Authentication;

namespace Raft.Shell.Transport.Tls;

/// <summary>etcd's spellings of TLS versions and cipher suites, as .NET's values.</summary>
internal static class TlsVersions
{
    public static bool TryParse(string? text, out SslProtocols version, out string? error)
    {
        error = null;
        switch (text?.Trim().ToUpperInvariant())
        {
            case "TLS1.2":
                version = SslProtocols.Tls12;
                return true;
            case "TLS1.3":
                version = SslProtocols.Tls13;
                return true;
            default:
                // etcd accepts TLS1.0 and TLS1.1 too; .NET on current OpenSSL refuses them, so say so.
                version = SslProtocols.None;
                error = $"unsupported TLS version \"{text}\" (use TLS1.2 or TLS1.3)";
                return false;
        }
    }

    /// <summary>The suites named (IANA names, as etcd's --cipher-suites), or null and why not.</summary>
    public static TlsCipherSuite[]? ParseCipherSuites(IEnumerable<string> names, out string? error)
    {
        error = null;
        var suites = new List<TlsCipherSuite>();
        foreach (var raw in names)
        {
            var name = raw.Trim();
            if (name.Length == 0) continue;
            if (!name.StartsWith("TLS_", StringComparison.Ordinal) || !Enum.TryParse<TlsCipherSuite>(name, ignoreCase: false, out var suite))
            {
                error = $"unexpected TLS cipher suite \"{name}\"";
                return null;
            }
            suites.Add(suite);
        }
        return suites.ToArray();
    }
}
