using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Raft.Shell.Transport.Tls;

/// <summary>
/// TLS settings of one side of a member (peers or clients), with etcd's flag meanings
/// (client/pkg/transport.TLSInfo). Either files (<see cref="CertFile"/>, <see cref="KeyFile"/>,
/// <see cref="TrustedCaFile"/>), which are read again whenever they change on disk, so certificates
/// rotate without a restart; or objects (<see cref="Certificate"/>, <see cref="TrustedCertificates"/>)
/// for a host that keeps its certificates elsewhere; or <see cref="AutoTls"/>. Nothing set: no TLS.
/// </summary>
public sealed class TlsOptions
{
    /// <summary>PEM certificate this side presents (<c>--cert-file</c> / <c>--peer-cert-file</c>); it may hold the chain after the leaf.</summary>
    public string? CertFile { get; set; }

    /// <summary>PEM private key of <see cref="CertFile"/> (<c>--key-file</c> / <c>--peer-key-file</c>).</summary>
    public string? KeyFile { get; set; }

    /// <summary>
    /// PEM bundle of the certificate authorities that remote certificates must chain to
    /// (<c>--trusted-ca-file</c> / <c>--peer-trusted-ca-file</c>); only these are trusted, not the system's.
    /// </summary>
    public string? TrustedCaFile { get; set; }

    /// <summary>
    /// Require every remote party to present a certificate that chains to the trusted CAs
    /// (<c>--client-cert-auth</c> / <c>--peer-client-cert-auth</c>). Needs <see cref="TrustedCaFile"/>
    /// or <see cref="TrustedCertificates"/>.
    /// </summary>
    public bool ClientCertAuth { get; set; }

    /// <summary>
    /// Present a self-signed certificate generated at start for the listen URLs' hosts when no
    /// certificate is given (<c>--auto-tls</c> / <c>--peer-auto-tls</c>); the other side's certificate is
    /// then not verified against a CA unless trusted CAs are given, as in etcd.
    /// </summary>
    public bool AutoTls { get; set; }

    /// <summary>DER or PEM certificate revocation list; a remote certificate it lists is refused (<c>--client-crl-file</c> / <c>--peer-crl-file</c>).</summary>
    public string? CrlFile { get; set; }

    /// <summary>A remote certificate must have exactly this subject common name (<c>--peer-cert-allowed-cn</c>).</summary>
    public string? AllowedCn { get; set; }

    /// <summary>A remote certificate must be valid for this host name (<c>--peer-cert-allowed-hostname</c>).</summary>
    public string? AllowedHostname { get; set; }

    /// <summary>
    /// Allowed TLS 1.2 cipher suites by their IANA names, e.g. <c>TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256</c>
    /// (<c>--cipher-suites</c>); empty: the platform's defaults.
    /// </summary>
    public IList<string> CipherSuites { get; set; } = new List<string>();

    /// <summary>Lowest TLS version accepted: <c>TLS1.2</c> (the default) or <c>TLS1.3</c> (<c>--tls-min-version</c>).</summary>
    public string MinVersion { get; set; } = "TLS1.2";

    /// <summary>Highest TLS version spoken: <c>TLS1.2</c>, <c>TLS1.3</c>, or empty for the highest supported (<c>--tls-max-version</c>).</summary>
    public string? MaxVersion { get; set; }

    /// <summary>A certificate with its private key to present instead of <see cref="CertFile"/>/<see cref="KeyFile"/>.</summary>
    public X509Certificate2? Certificate { get; set; }

    /// <summary>Trusted CAs given as certificates instead of (or besides) <see cref="TrustedCaFile"/>.</summary>
    public X509Certificate2Collection? TrustedCertificates { get; set; }

    /// <summary>Whether this side presents a certificate at all (a certificate, files, or auto TLS).</summary>
    public bool IsEnabled => Certificate is not null || !string.IsNullOrEmpty(CertFile) || !string.IsNullOrEmpty(KeyFile) || AutoTls;

    internal bool HasTrustedCa => !string.IsNullOrEmpty(TrustedCaFile) || TrustedCertificates is { Count: > 0 };

    /// <summary>
    /// Why these settings cannot work, one line each, options named by <paramref name="flag"/>
    /// (which maps a property name to how the caller spells it, a flag or a configuration key).
    /// Files must exist and parse; flag combinations must make sense.
    /// </summary>
    public IReadOnlyList<string> Validate(Func<string, string> flag)
    {
        ArgumentNullException.ThrowIfNull(flag);
        var errors = new List<string>();
        var hasFiles = !string.IsNullOrEmpty(CertFile) || !string.IsNullOrEmpty(KeyFile);
        if (hasFiles && (string.IsNullOrEmpty(CertFile) || string.IsNullOrEmpty(KeyFile)))
            errors.Add($"{flag(nameof(CertFile))} and {flag(nameof(KeyFile))} must be given together");
        if (hasFiles && Certificate is not null)
            errors.Add($"{flag(nameof(CertFile))} and a certificate object are both given; give one");
        if (ClientCertAuth && !HasTrustedCa)
            errors.Add($"{flag(nameof(ClientCertAuth))} needs {flag(nameof(TrustedCaFile))}: there is nothing to verify certificates against");
        var anyRemoteCheck = ClientCertAuth || HasTrustedCa || !string.IsNullOrEmpty(CrlFile) || !string.IsNullOrEmpty(AllowedCn) || !string.IsNullOrEmpty(AllowedHostname);
        if (anyRemoteCheck && !IsEnabled)
            errors.Add($"{flag(nameof(TrustedCaFile))}, {flag(nameof(ClientCertAuth))}, {flag(nameof(CrlFile))} and the allowed names need a certificate ({flag(nameof(CertFile))} and {flag(nameof(KeyFile))}) or {flag(nameof(AutoTls))}");
        if (!string.IsNullOrEmpty(AllowedCn) && !string.IsNullOrEmpty(AllowedHostname))
            errors.Add($"{flag(nameof(AllowedCn))} and {flag(nameof(AllowedHostname))} are mutually exclusive");
        if (TlsVersions.TryParse(MinVersion, out var min, out var vErr) is false)
            errors.Add($"{flag(nameof(MinVersion))}: {vErr}");
        var max = SslProtocols.Tls13;
        if (!string.IsNullOrEmpty(MaxVersion) && TlsVersions.TryParse(MaxVersion, out max, out vErr) is false)
            errors.Add($"{flag(nameof(MaxVersion))}: {vErr}");
        else if (max < min)
            errors.Add($"{flag(nameof(MinVersion))} {MinVersion} is above {flag(nameof(MaxVersion))} {MaxVersion}");
        if (CipherSuites.Count > 0)
        {
            if (TlsVersions.ParseCipherSuites(CipherSuites, out var cErr) is null)
                errors.Add($"{flag(nameof(CipherSuites))}: {cErr}");
            // etcd: TLS 1.3's suites are fixed, so a list given with TLS 1.3 only is a mistake.
            if (min == SslProtocols.Tls13)
                errors.Add($"{flag(nameof(CipherSuites))} cannot be set when only TLS 1.3 is allowed ({flag(nameof(MinVersion))} TLS1.3)");
        }
        if (errors.Count > 0) return errors;
        // Read every file once now, so a bad one fails the start with its name rather than the first handshake.
        try
        {
            if (hasFiles) CertificateFiles.Load(CertFile!, KeyFile!);
            if (!string.IsNullOrEmpty(TrustedCaFile)) CertificateFiles.LoadBundle(TrustedCaFile);
            if (!string.IsNullOrEmpty(CrlFile)) RevocationList.Load(CrlFile);
        }
        catch (TlsFileException ex)
        {
            errors.Add(ex.Message);
        }
        return errors;
    }

    internal SslProtocols Protocols
    {
        get
        {
            TlsVersions.TryParse(MinVersion, out var min, out _);
            var max = SslProtocols.Tls13;
            if (!string.IsNullOrEmpty(MaxVersion)) TlsVersions.TryParse(MaxVersion, out max, out _);
            var p = SslProtocols.None;
            if (min <= SslProtocols.Tls12 && max >= SslProtocols.Tls12) p |= SslProtocols.Tls12;
            if (max >= SslProtocols.Tls13) p |= SslProtocols.Tls13;
            return p;
        }
    }

    internal CipherSuitesPolicy? CipherPolicy =>
        CipherSuites.Count == 0 || !(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
            ? null
            : new CipherSuitesPolicy(TlsVersions.ParseCipherSuites(CipherSuites, out _)!);
}
