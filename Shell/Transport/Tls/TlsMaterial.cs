using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Raft.Shell.Transport.Tls;

/// <summary>
/// The certificates of one <see cref="TlsOptions"/>, read again when their files change: every
/// handshake asks for them, and a look at the files' length and write time (a stat each) decides
/// whether to reload, so a rotated certificate, CA bundle or CRL takes effect at the next
/// connection, as etcd re-reads its files per handshake. A file that fails to load keeps the last
/// good version in use and is tried again at the next handshake.
/// </summary>
internal sealed class TlsMaterial
{
    private readonly Lock gate = new();
    private readonly TlsOptions options;
    private readonly X509Certificate2? fixedOrAuto;
    private (long, long) certStamp, keyStamp, caStamp, crlStamp;
    private SslStreamCertificateContext? context;
    private X509Certificate2? leaf;
    private X509Certificate2Collection trusted = [];
    private RevocationList? crl;

    /// <param name="options">Validated settings.</param>
    /// <param name="autoHosts">Hosts for the auto-TLS certificate (the listen URLs').</param>
    public TlsMaterial(TlsOptions options, IEnumerable<string> autoHosts)
    {
        this.options = options;
        if (options.Certificate is not null) fixedOrAuto = options.Certificate;
        else if (string.IsNullOrEmpty(options.CertFile) && options.AutoTls) fixedOrAuto = SelfSignedCertificate.Create(autoHosts);
        Options = options;
        Refresh(throwOnError: true);
    }

    public TlsOptions Options { get; }

    /// <summary>Whether certificates must chain to configured CAs (else: auto TLS without CAs, nothing is verified).</summary>
    public bool VerifiesChain => options.HasTrustedCa;

    /// <summary>Reports a file that failed to reload (the last good one stays in use).</summary>
    public Action<string>? ReloadFailed { get; set; }

    /// <summary>This side's certificate with its chain, current as of now.</summary>
    public SslStreamCertificateContext Context
    {
        get
        {
            Refresh(throwOnError: false);
            lock (gate) return context!;
        }
    }

    /// <summary>This side's leaf certificate, current as of now.</summary>
    public X509Certificate2 Certificate
    {
        get
        {
            Refresh(throwOnError: false);
            lock (gate) return leaf!;
        }
    }

    /// <summary>The trusted CAs, current as of now.</summary>
    public X509Certificate2Collection Trusted
    {
        get
        {
            Refresh(throwOnError: false);
            lock (gate) return trusted;
        }
    }

    /// <summary>The revocation list, current as of now; null when none is configured.</summary>
    public RevocationList? Crl
    {
        get
        {
            Refresh(throwOnError: false);
            lock (gate) return crl;
        }
    }

    private void Refresh(bool throwOnError)
    {
        var cs = CertificateFiles.Stamp(options.CertFile);
        var ks = CertificateFiles.Stamp(options.KeyFile);
        var ts = CertificateFiles.Stamp(options.TrustedCaFile);
        var rs = CertificateFiles.Stamp(options.CrlFile);
        lock (gate)
        {
            if (context is not null && cs == certStamp && ks == keyStamp && ts == caStamp && rs == crlStamp) return;
            try
            {
                if (context is null || cs != certStamp || ks != keyStamp)
                {
                    if (fixedOrAuto is not null)
                    {
                        leaf = fixedOrAuto;
                        context = SslStreamCertificateContext.Create(fixedOrAuto, additionalCertificates: null, offline: true);
                    }
                    else
                    {
                        var (l, chain) = CertificateFiles.Load(options.CertFile!, options.KeyFile!);
                        leaf = l;
                        context = SslStreamCertificateContext.Create(l, chain, offline: true);
                    }
                    (certStamp, keyStamp) = (cs, ks);
                }
                if (ts != caStamp || (trusted.Count == 0 && options.HasTrustedCa))
                {
                    var t = new X509Certificate2Collection();
                    if (options.TrustedCertificates is { } given) t.AddRange(given);
                    if (!string.IsNullOrEmpty(options.TrustedCaFile)) t.AddRange(CertificateFiles.LoadBundle(options.TrustedCaFile));
                    trusted = t;
                    caStamp = ts;
                }
                if (rs != crlStamp)
                {
                    crl = string.IsNullOrEmpty(options.CrlFile) ? null : RevocationList.Load(options.CrlFile);
                    crlStamp = rs;
                }
            }
            catch (TlsFileException ex) when (!throwOnError && context is not null)
            {
                // Half-written files during a rotation are normal: keep serving with what worked.
                ReloadFailed?.Invoke(ex.Message);
            }
        }
    }
}
