using System.Diagnostics;

namespace Raft.Shell.Tests.Tls;

/// <summary>
/// A directory of PEM certificates made with Debian's openssl, as an operator makes them: a CA; a
/// server, a peer and a client certificate it signs (valid for 127.0.0.1, 127.0.8.x and localhost,
/// for server and client use); a second CA with a certificate of its own; one with the wrong common
/// name; an expired one (openssl ca with dates in the past).
/// </summary>
public sealed class TestCertificates : IDisposable
{
    public TestCertificates()
    {
        Dir = Directory.CreateTempSubdirectory("raft-tls-").FullName;
        Ca("ca", "raft test CA");
        Ca("other-ca", "another CA");
        Issue("server", "server", "ca");
        Issue("peer", "member", "ca");
        Issue("peer2", "member", "ca");
        Issue("client", "root", "ca");
        Issue("other", "member", "other-ca");
        Issue("wrong-cn", "intruder", "ca");
        Expired("expired", "member");
    }

    public string Dir { get; }

    public string Cert(string name) => Path.Combine(Dir, $"{name}.pem");

    public string Key(string name) => Path.Combine(Dir, $"{name}-key.pem");

    public string CaFile => Cert("ca");

    /// <summary>Issues (or re-issues, for a rotation) <paramref name="name"/> signed by the CA.</summary>
    public void Issue(string name, string cn, string ca = "ca")
    {
        var csr = Path.Combine(Dir, $"{name}.csr");
        var ext = Path.Combine(Dir, $"{name}.ext");
        OpenSsl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", Key(name), "-out", csr, "-subj", $"/CN={cn}");
        File.WriteAllText(ext, "subjectAltName=IP:127.0.0.1,IP:127.0.8.1,IP:127.0.8.2,IP:127.0.8.3,IP:127.0.8.4,IP:127.0.24.5,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n");
        OpenSsl("x509", "-req", "-in", csr, "-CA", Cert(ca), "-CAkey", Key(ca), "-CAcreateserial", "-out", Cert(name), "-days", "30", "-extfile", ext);
    }

    private void Ca(string name, string cn) =>
        OpenSsl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", Key(name), "-out", Cert(name), "-days", "30", "-subj", $"/CN={cn}");

    private void Expired(string name, string cn)
    {
        // openssl ca, unlike x509 -req, takes explicit validity dates: both in the past.
        var csr = Path.Combine(Dir, $"{name}.csr");
        var ext = Path.Combine(Dir, $"{name}.ext");
        OpenSsl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", Key(name), "-out", csr, "-subj", $"/CN={cn}");
        File.WriteAllText(ext, "subjectAltName=IP:127.0.0.1,IP:127.0.8.1,IP:127.0.8.2,IP:127.0.8.3,IP:127.0.8.4\nextendedKeyUsage=serverAuth,clientAuth\n");
        var start = DateTime.UtcNow.AddDays(-10).ToString("yyyyMMddHHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var end = DateTime.UtcNow.AddDays(-1).ToString("yyyyMMddHHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        OpenSsl("ca", "-batch", "-config", CaConfig(), "-notext", "-in", csr, "-out", Cert(name), "-keyfile", Key("ca"), "-cert", Cert("ca"),
            "-startdate", start, "-enddate", end, "-extfile", ext);
    }

    // A minimal openssl ca database for the CA (dated issuing, revocation, CRLs).
    private string CaConfig()
    {
        var conf = Path.Combine(Dir, "ca.cnf");
        if (File.Exists(conf)) return conf;
        File.WriteAllText(Path.Combine(Dir, "index.txt"), "");
        File.WriteAllText(Path.Combine(Dir, "crlnumber"), "01\n");
        File.WriteAllText(Path.Combine(Dir, "serial"), "1000\n");
        File.WriteAllText(conf,
            $"[ca]\ndefault_ca=d\n[d]\ndatabase={Path.Combine(Dir, "index.txt")}\ncrlnumber={Path.Combine(Dir, "crlnumber")}\n" +
            $"serial={Path.Combine(Dir, "serial")}\nnew_certs_dir={Dir}\ndefault_md=sha256\ndefault_crl_days=30\nunique_subject=no\npolicy=p\n[p]\ncommonName=supplied\n");
        return conf;
    }

    /// <summary>Revokes <paramref name="name"/> in the CA's CRL; returns the CRL file.</summary>
    public string Revoke(string name) => RevokeFiles(Cert(name));

    /// <summary>Revokes the certificates in <paramref name="certFiles"/> (none: an empty list) and writes the CA's CRL; returns its file.</summary>
    public string RevokeFiles(params string[] certFiles)
    {
        var conf = CaConfig();
        foreach (var file in certFiles)
            OpenSsl("ca", "-config", conf, "-revoke", file, "-keyfile", Key("ca"), "-cert", Cert("ca"));
        var crl = Path.Combine(Dir, "crl.pem");
        var fresh = crl + ".new";
        OpenSsl("ca", "-config", conf, "-gencrl", "-keyfile", Key("ca"), "-cert", Cert("ca"), "-out", fresh);
        // Replaced by rename, so a member reading it never sees half a file.
        File.Move(fresh, crl, overwrite: true);
        return crl;
    }

    public static void OpenSsl(params string[] args)
    {
        var psi = new ProcessStartInfo("openssl") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"openssl {string.Join(' ', args)} failed: {err.Result}");
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
