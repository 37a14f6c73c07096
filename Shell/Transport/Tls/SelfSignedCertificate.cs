using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Raft.Shell.Transport.Tls;

/// <summary>
/// etcd's --auto-tls / --peer-auto-tls certificate (transport.SelfCert): self-signed, ECDSA P-256,
/// valid for a year from a little before now, for the hosts of the listen URLs. Made in memory at start.
/// </summary>
internal static class SelfSignedCertificate
{
    public static X509Certificate2 Create(IEnumerable<string> hosts)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("O=etcd", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        var any = false;
        foreach (var host in hosts.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            any = true;
            if (IPAddress.TryParse(host.Trim('[', ']'), out var ip)) san.AddIpAddress(ip);
            else san.AddDnsName(host);
        }
        if (!any) san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(1));
    }
}
