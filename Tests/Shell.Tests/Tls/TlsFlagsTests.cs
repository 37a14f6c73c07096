using System.CommandLine;
using Raft.Cli;
using Raft.Shell.Node;

namespace Raft.Shell.Tests.Tls;

/// <summary><c>raft serve</c>'s TLS flags: etcd's names map to the options, and unusable combinations are refused naming the flags.</summary>
public sealed class TlsFlagsTests : IClassFixture<PeerTlsTests.Certs>
{
    private readonly TestCertificates certs;

    public TlsFlagsTests(PeerTlsTests.Certs fixture) => certs = fixture.Value;

    private static (RaftNodeOptions? Options, IReadOnlyList<string> Errors) Parse(params string[] args) =>
        ServeCommand.Options(ServeCommand.Create().Parse(args));

    [Fact]
    public void EtcdsFlagsSetClientAndPeerTls()
    {
        var (o, errors) = Parse(
            "--listen-client-urls", "https://127.0.8.1:2379", "--advertise-client-urls", "https://127.0.8.1:2379",
            "--listen-peer-urls", "https://127.0.8.1:2380", "--initial-advertise-peer-urls", "https://127.0.8.1:2380",
            "--cert-file", certs.Cert("server"), "--key-file", certs.Key("server"), "--trusted-ca-file", certs.CaFile, "--client-cert-auth",
            "--peer-cert-file", certs.Cert("peer"), "--peer-key-file", certs.Key("peer"), "--peer-trusted-ca-file", certs.CaFile,
            "--peer-client-cert-auth", "--peer-cert-allowed-cn", "member",
            "--cipher-suites", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "--tls-max-version", "TLS1.2");
        Assert.True(o is not null, string.Join("; ", errors));
        Assert.Equal(certs.Cert("server"), o.ClientTls.CertFile);
        Assert.True(o.ClientTls.ClientCertAuth);
        Assert.Equal(certs.Cert("peer"), o.PeerTls.CertFile);
        Assert.Equal(certs.CaFile, o.PeerTls.TrustedCaFile);
        Assert.True(o.PeerTls.ClientCertAuth);
        Assert.Equal("member", o.PeerTls.AllowedCn);
        Assert.Equal(2, o.PeerTls.CipherSuites.Count);
        Assert.Equal("TLS1.2", o.ClientTls.MaxVersion);
        Assert.False(new RaftNodeOptions().PeerTls.IsEnabled);
    }

    [Theory]
    [InlineData("--client-cert-auth needs --trusted-ca-file", "--listen-client-urls", "https://127.0.8.1:2379", "--advertise-client-urls", "https://127.0.8.1:2379", "--auto-tls", "--client-cert-auth")]
    [InlineData("--listen-peer-urls has https://127.0.8.1:2380 but no peer certificate: give --peer-cert-file and --peer-key-file, or --peer-auto-tls", "--listen-peer-urls", "https://127.0.8.1:2380")]
    [InlineData("--listen-client-urls has https://127.0.8.1:2379 but no client certificate", "--listen-client-urls", "https://127.0.8.1:2379", "--advertise-client-urls", "https://127.0.8.1:2379")]
    [InlineData("not https, while peer TLS is configured", "--peer-auto-tls")]
    [InlineData("--peer-cert-file and --peer-key-file must be given together", "--peer-cert-file", "x.pem", "--listen-peer-urls", "https://127.0.8.1:2380")]
    [InlineData("--peer-cert-allowed-cn and --peer-cert-allowed-hostname are mutually exclusive", "--peer-auto-tls", "--listen-peer-urls", "https://127.0.8.1:2380", "--peer-cert-allowed-cn", "a", "--peer-cert-allowed-hostname", "b")]
    [InlineData("--tls-min-version: unsupported TLS version \"TLS1.0\"", "--tls-min-version", "TLS1.0")]
    [InlineData("--cipher-suites cannot be set when only TLS 1.3 is allowed", "--auto-tls", "--tls-min-version", "TLS1.3", "--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")]
    public void UnusableCombinationsAreRefusedNamingTheFlags(string expected, params string[] args)
    {
        var (o, errors) = Parse(args);
        Assert.Null(o);
        Assert.Contains(errors, e => e.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void AMissingCertificateFileIsNamed()
    {
        var missing = Path.Combine(certs.Dir, "missing.pem");
        var (o, errors) = Parse("--listen-peer-urls", "https://127.0.8.1:2380", "--peer-cert-file", missing, "--peer-key-file", certs.Key("peer"));
        Assert.Null(o);
        Assert.Contains(errors, e => e.Contains($"cannot read certificate file {missing}", StringComparison.Ordinal));
    }
}
