using System.CommandLine;
using Raft.Shell.Node;
using Raft.Shell.Transport.Tls;

namespace Raft.Cli;

/// <summary>etcd's TLS flags of <c>raft serve</c>, for clients and for peers, with etcd's names and meanings.</summary>
internal static class TlsFlags
{
    private static readonly Option<string?> CertFile = new("--cert-file") { Description = "Path to the client server TLS cert file." };
    private static readonly Option<string?> KeyFile = new("--key-file") { Description = "Path to the client server TLS key file." };
    private static readonly Option<bool> ClientCertAuth = new("--client-cert-auth") { Description = "Enable client cert authentication." };
    private static readonly Option<string?> ClientCrlFile = new("--client-crl-file") { Description = "Path to the client certificate revocation list file." };
    private static readonly Option<string?> TrustedCaFile = new("--trusted-ca-file") { Description = "Path to the client server TLS trusted CA cert file." };
    private static readonly Option<bool> AutoTls = new("--auto-tls") { Description = "Client TLS using generated certificates." };
    private static readonly Option<string?> PeerCertFile = new("--peer-cert-file") { Description = "Path to the peer server TLS cert file." };
    private static readonly Option<string?> PeerKeyFile = new("--peer-key-file") { Description = "Path to the peer server TLS key file." };
    private static readonly Option<bool> PeerClientCertAuth = new("--peer-client-cert-auth") { Description = "Enable peer client cert authentication." };
    private static readonly Option<string?> PeerTrustedCaFile = new("--peer-trusted-ca-file") { Description = "Path to the peer server TLS trusted CA file." };
    private static readonly Option<bool> PeerAutoTls = new("--peer-auto-tls") { Description = "Peer TLS using generated certificates." };
    private static readonly Option<string?> PeerCertAllowedCn = new("--peer-cert-allowed-cn") { Description = "Allowed CN for inter peer authentication." };
    private static readonly Option<string?> PeerCertAllowedHostname = new("--peer-cert-allowed-hostname") { Description = "Allowed TLS hostname for inter peer authentication." };
    private static readonly Option<string?> PeerCrlFile = new("--peer-crl-file") { Description = "Path to the peer certificate revocation list file." };
    private static readonly Option<string?> CipherSuites = new("--cipher-suites") { Description = "Comma-separated list of supported TLS cipher suites between client/server and peers (empty will be auto-populated by the platform)." };
    private static readonly Option<string> TlsMinVersion = new("--tls-min-version") { Description = "Minimum TLS version supported (TLS1.2 or TLS1.3).", DefaultValueFactory = _ => "TLS1.2" };
    private static readonly Option<string?> TlsMaxVersion = new("--tls-max-version") { Description = "Maximum TLS version supported (TLS1.2 or TLS1.3; empty: the highest the platform speaks)." };

    /// <summary>Every TLS flag, for the command.</summary>
    public static IEnumerable<Option> All =>
    [
        CertFile, KeyFile, ClientCertAuth, ClientCrlFile, TrustedCaFile, AutoTls,
        PeerCertFile, PeerKeyFile, PeerClientCertAuth, PeerTrustedCaFile, PeerAutoTls, PeerCertAllowedCn, PeerCertAllowedHostname, PeerCrlFile,
        CipherSuites, TlsMinVersion, TlsMaxVersion,
    ];

    /// <summary>Sets <paramref name="o"/>'s client and peer TLS from the flags; the suites and versions apply to both, as in etcd.</summary>
    public static void Apply(ParseResult r, RaftNodeOptions o)
    {
        var suites = (r.GetValue(CipherSuites) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        o.ClientTls = new TlsOptions
        {
            CertFile = r.GetValue(CertFile),
            KeyFile = r.GetValue(KeyFile),
            ClientCertAuth = r.GetValue(ClientCertAuth),
            CrlFile = r.GetValue(ClientCrlFile),
            TrustedCaFile = r.GetValue(TrustedCaFile),
            AutoTls = r.GetValue(AutoTls),
            CipherSuites = suites,
            MinVersion = r.GetValue(TlsMinVersion)!,
            MaxVersion = r.GetValue(TlsMaxVersion),
        };
        o.PeerTls = new TlsOptions
        {
            CertFile = r.GetValue(PeerCertFile),
            KeyFile = r.GetValue(PeerKeyFile),
            ClientCertAuth = r.GetValue(PeerClientCertAuth),
            CrlFile = r.GetValue(PeerCrlFile),
            TrustedCaFile = r.GetValue(PeerTrustedCaFile),
            AutoTls = r.GetValue(PeerAutoTls),
            AllowedCn = r.GetValue(PeerCertAllowedCn),
            AllowedHostname = r.GetValue(PeerCertAllowedHostname),
            CipherSuites = suites,
            MinVersion = r.GetValue(TlsMinVersion)!,
            MaxVersion = r.GetValue(TlsMaxVersion),
        };
    }

    /// <summary>The flag of a TLS option key (<c>PeerTls:CertFile</c>); null for another key.</summary>
    public static string? FlagOf(string key) => key switch
    {
        "ClientTls:CertFile" => CertFile.Name,
        "ClientTls:KeyFile" => KeyFile.Name,
        "ClientTls:ClientCertAuth" => ClientCertAuth.Name,
        "ClientTls:CrlFile" => ClientCrlFile.Name,
        "ClientTls:TrustedCaFile" => TrustedCaFile.Name,
        "ClientTls:AutoTls" => AutoTls.Name,
        "PeerTls:CertFile" => PeerCertFile.Name,
        "PeerTls:KeyFile" => PeerKeyFile.Name,
        "PeerTls:ClientCertAuth" => PeerClientCertAuth.Name,
        "PeerTls:CrlFile" => PeerCrlFile.Name,
        "PeerTls:TrustedCaFile" => PeerTrustedCaFile.Name,
        "PeerTls:AutoTls" => PeerAutoTls.Name,
        "PeerTls:AllowedCn" => PeerCertAllowedCn.Name,
        "PeerTls:AllowedHostname" => PeerCertAllowedHostname.Name,
        "ClientTls:CipherSuites" or "PeerTls:CipherSuites" => CipherSuites.Name,
        "ClientTls:MinVersion" or "PeerTls:MinVersion" => TlsMinVersion.Name,
        "ClientTls:MaxVersion" or "PeerTls:MaxVersion" => TlsMaxVersion.Name,
        _ => null,
    };
}
