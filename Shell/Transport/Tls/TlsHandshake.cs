using System.ComponentModel;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Raft.Shell.Transport.Tls;

/// <summary>A TLS handshake that did not complete; the message says why (the certificate check's reason when it was that).</summary>
internal sealed class TlsHandshakeException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>
/// Wraps a connected stream in TLS with one <see cref="TlsMaterial"/>'s certificates, taken afresh for
/// each handshake. Both sides check the other's certificate with <see cref="RemoteCertificateCheck"/>;
/// a refusal carries its reason.
/// </summary>
internal sealed class TlsHandshake(TlsMaterial material)
{
    public TlsMaterial Material { get; } = material;

    /// <summary>The accepting side: presents this member's certificate; asks for the dialler's under client-cert-auth.</summary>
    /// <exception cref="TlsHandshakeException">The handshake failed; why.</exception>
    public async Task<SslStream> AcceptAsync(Stream inner, CancellationToken ct)
    {
        string? refused = null;
        var o = Material.Options;
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = Material.Context,
            ClientCertificateRequired = o.ClientCertAuth,
            EnabledSslProtocols = o.Protocols,
            CipherSuitesPolicy = o.CipherPolicy,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, cert, chain, errors) =>
            {
                // Without client-cert-auth a dialler's certificate is not asked for; one sent anyway is still checked.
                refused = RemoteCertificateCheck.Check(Material, cert, chain, o.ClientCertAuth, errors & ~SslPolicyErrors.RemoteCertificateNotAvailable & ~SslPolicyErrors.RemoteCertificateNameMismatch);
                return refused is null;
            },
        };
        return await CompleteAsync(ssl, ssl.AuthenticateAsServerAsync(options, ct), () => refused).ConfigureAwait(false);
    }

    /// <summary>The dialling side: checks the server's certificate against <paramref name="targetHost"/> and presents this member's own.</summary>
    /// <exception cref="TlsHandshakeException">The handshake failed; why.</exception>
    public async Task<SslStream> ConnectAsync(Stream inner, string targetHost, CancellationToken ct)
    {
        string? refused = null;
        var o = Material.Options;
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = targetHost,
            ClientCertificateContext = Material.Context,
            EnabledSslProtocols = o.Protocols,
            CipherSuitesPolicy = o.CipherPolicy,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, cert, chain, errors) =>
            {
                refused = RemoteCertificateCheck.Check(Material, cert, chain, required: true, errors);
                return refused is null;
            },
        };
        return await CompleteAsync(ssl, ssl.AuthenticateAsClientAsync(options, ct), () => refused).ConfigureAwait(false);
    }

    /// <summary>The stream once <paramref name="handshake"/> completes; else disposed, and why: the certificate check's reason when it refused.</summary>
    private static async Task<SslStream> CompleteAsync(SslStream ssl, Task handshake, Func<string?> refused)
    {
        try
        {
            await handshake.ConfigureAwait(false);
            return ssl;
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or Win32Exception)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new TlsHandshakeException($"TLS handshake failed: {refused() ?? Flatten(ex)}", ex);
        }
    }

    private static string Flatten(Exception ex)
    {
        var parts = new List<string>();
        for (var e = ex; e is not null; e = e.InnerException) parts.Add(e.Message);
        return string.Join(": ", parts.Distinct());
    }
}
