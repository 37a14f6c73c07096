using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Raft.Shell.Transport.Tls;

/// <summary>
/// Judges the other side's certificate as etcd's TLS configuration does: it must chain to the
/// trusted CAs only (not the system's), be within its validity, not be on the revocation list, and
/// carry the allowed common name or host name when one is configured. Returns why not, in words an
/// operator can act on, or null when it passes.
/// </summary>
internal static class RemoteCertificateCheck
{
    /// <param name="material">This side's settings and trusted CAs.</param>
    /// <param name="certificate">What the other side presented (null: nothing).</param>
    /// <param name="presented">The chain the other side sent with it, used as intermediates only.</param>
    /// <param name="required">The other side must present a certificate (a server always; a client under client-cert-auth).</param>
    /// <param name="platform">What the platform found (the host name check counts on the dialling side only).</param>
    public static string? Check(TlsMaterial material, X509Certificate? certificate, X509Chain? presented, bool required, SslPolicyErrors platform)
    {
        var o = material.Options;
        if (certificate is null)
            return required ? "no certificate presented" : null;
        using var cert = new X509Certificate2(certificate);
        if (material.VerifiesChain)
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(material.Trusted);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.VerificationTime = DateTime.Now;
            chain.ChainPolicy.VerificationTimeIgnored = false;
            if (presented is not null)
            {
                foreach (var element in presented.ChainElements)
                    if (!element.Certificate.RawDataMemory.Span.SequenceEqual(cert.RawDataMemory.Span))
                        chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
            if (!chain.Build(cert))
            {
                var reasons = chain.ChainStatus.Select(s => Describe(s, cert)).Distinct();
                return $"certificate \"{cert.Subject}\" rejected: {string.Join("; ", reasons)}";
            }
            if (material.Crl is { } crl)
            {
                foreach (var element in chain.ChainElements)
                {
                    if (crl.IsRevoked(element.Certificate.SerialNumberBytes.ToArray()))
                        return $"certificate \"{element.Certificate.Subject}\" (serial {element.Certificate.SerialNumber}) is revoked by the CRL {o.CrlFile}";
                }
            }
        }
        else if (!o.AutoTls && platform.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
        {
            // No CA given and no auto TLS: the system's CAs decide, as Go's default does.
            return $"certificate \"{cert.Subject}\" is not trusted by the system's CAs";
        }
        // Auto TLS without CAs verifies nothing (etcd's InsecureSkipVerify); otherwise the dialled host must match.
        if (platform.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) && (material.VerifiesChain || !o.AutoTls))
            return $"certificate \"{cert.Subject}\" is not valid for the host dialled";
        if (!string.IsNullOrEmpty(o.AllowedCn))
        {
            var cn = cert.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
            if (!string.Equals(cn, o.AllowedCn, StringComparison.Ordinal))
                return $"certificate common name \"{cn}\" is not the allowed \"{o.AllowedCn}\"";
        }
        if (!string.IsNullOrEmpty(o.AllowedHostname) && !cert.MatchesHostname(o.AllowedHostname))
            return $"certificate \"{cert.Subject}\" is not valid for the allowed host name \"{o.AllowedHostname}\"";
        return null;
    }

    private static string Describe(X509ChainStatus s, X509Certificate2 cert) => s.Status switch
    {
        X509ChainStatusFlags.NotTimeValid when cert.NotAfter < DateTime.Now => $"expired at {cert.NotAfter.ToUniversalTime():yyyy-MM-ddTHH:mm:ssZ}",
        X509ChainStatusFlags.NotTimeValid => $"not valid before {cert.NotBefore.ToUniversalTime():yyyy-MM-ddTHH:mm:ssZ} (or a CA of its chain is out of date)",
        X509ChainStatusFlags.UntrustedRoot or X509ChainStatusFlags.PartialChain => $"not signed by a trusted CA (issuer \"{cert.Issuer}\")",
        _ => $"{s.Status}: {s.StatusInformation.Trim()}",
    };
}
