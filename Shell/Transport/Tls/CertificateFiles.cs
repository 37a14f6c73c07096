using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Raft.Shell.Transport.Tls;

/// <summary>Reads PEM certificates and keys, with messages that name the file and what is wrong with it.</summary>
internal static class CertificateFiles
{
    /// <summary>The certificate of <paramref name="certFile"/> with the key of <paramref name="keyFile"/>, and any chain after it.</summary>
    /// <exception cref="TlsFileException">A file is missing, unreadable, not PEM, or the key does not match.</exception>
    public static (X509Certificate2 Leaf, X509Certificate2Collection Chain) Load(string certFile, string keyFile)
    {
        var all = LoadBundle(certFile);
        X509Certificate2 leaf;
        try
        {
            leaf = X509Certificate2.CreateFromPemFile(certFile, keyFile);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new TlsFileException($"cannot use key file {keyFile} with certificate file {certFile}: {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TlsFileException($"cannot read key file {keyFile}: {ex.Message}", ex);
        }
        var chain = new X509Certificate2Collection();
        for (var i = 1; i < all.Count; i++) chain.Add(all[i]);
        return (leaf, chain);
    }

    /// <summary>Every certificate of a PEM file (at least one).</summary>
    /// <exception cref="TlsFileException">The file is missing, unreadable, or holds no certificate.</exception>
    public static X509Certificate2Collection LoadBundle(string file)
    {
        var bundle = new X509Certificate2Collection();
        try
        {
            bundle.ImportFromPemFile(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TlsFileException($"cannot read certificate file {file}: {ex.Message}", ex);
        }
        catch (CryptographicException ex)
        {
            throw new TlsFileException($"certificate file {file} is not a valid PEM certificate: {ex.Message}", ex);
        }
        if (bundle.Count == 0)
            throw new TlsFileException($"certificate file {file} holds no PEM certificate");
        return bundle;
    }

    /// <summary>A cheap fingerprint of a file's version: its length and last write time (0 when missing).</summary>
    public static (long, long) Stamp(string? file)
    {
        if (string.IsNullOrEmpty(file)) return (0, 0);
        var info = new FileInfo(file);
        return info.Exists ? (info.Length, info.LastWriteTimeUtc.Ticks) : (0, 0);
    }
}
