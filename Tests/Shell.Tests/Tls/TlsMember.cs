using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Raft.Shell.Tests.EndToEnd;

namespace Raft.Shell.Tests.Tls;

/// <summary>
/// One <c>raft serve</c> process with https:// client and peer URLs on its own loopback address
/// (127.0.8.<c>n</c>), its own copies of its certificates (so a test can rotate them), and clients
/// that trust the test CA.
/// </summary>
internal sealed partial class TlsMember : IDisposable
{
    private readonly TestCertificates certs;
    private readonly List<string> earlier = [];

    public TlsMember(TestCertificates certs, int n, string root, string peerCert = "peer", string serverCert = "server", string subnet = "127.0.8")
    {
        this.certs = certs;
        Name = $"m{n}";
        Address = $"{subnet}.{n}";
        DataDir = Path.Combine(root, Name);
        ClientUrl = $"https://{Address}:{FreePort(Address)}";
        PeerUrl = $"https://{Address}:{FreePort(Address)}";
        // The member's own files, which a rotation overwrites in place.
        Directory.CreateDirectory(Path.Combine(root, $"{Name}-certs"));
        PeerCert = Copy(root, peerCert, "peer");
        ServerCert = Copy(root, serverCert, "server");
    }

    public string Name { get; }
    public string Address { get; }
    public string DataDir { get; }
    public string ClientUrl { get; }
    public string PeerUrl { get; }
    public (string Cert, string Key) PeerCert { get; }
    public (string Cert, string Key) ServerCert { get; }
    public RaftProcess? Process { get; private set; }
    public ulong Id { get; private set; }

    /// <summary>Everything every process of this member printed.</summary>
    public string Output => string.Concat(earlier) + (Process?.Output ?? "");

    public IEnumerable<string> TlsFlags(string? crl) =>
    [
        "--cert-file", ServerCert.Cert, "--key-file", ServerCert.Key, "--trusted-ca-file", certs.CaFile, "--client-cert-auth",
        "--peer-cert-file", PeerCert.Cert, "--peer-key-file", PeerCert.Key, "--peer-trusted-ca-file", certs.CaFile,
        "--peer-client-cert-auth", "--peer-cert-allowed-cn", "member",
        .. crl is null ? Array.Empty<string>() : ["--peer-crl-file", crl],
    ];

    public void Launch(string initialCluster, string state, IEnumerable<string> flags)
    {
        if (Process is { } old)
        {
            earlier.Add(old.Output);
            old.Dispose();
        }
        string[] args =
        [
            "serve", "--name", Name, "--data-dir", DataDir,
            "--listen-client-urls", ClientUrl, "--advertise-client-urls", ClientUrl,
            "--listen-peer-urls", PeerUrl, "--initial-advertise-peer-urls", PeerUrl,
            "--initial-cluster", initialCluster, "--initial-cluster-state", state, "--initial-cluster-token", "tls-test",
        ];
        Process = RaftProcess.Start(args.Concat(flags));
    }

    public async Task WaitStartedAsync()
    {
        var p = Process!;
        Assert.True(await p.WaitForOutputAsync($"{Name}: member ", TimeSpan.FromSeconds(60)), $"{Name} did not start:\n{p.Output}");
        Id = ulong.Parse(StartLine().Match(p.Output).Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }

    /// <summary>A gateway client presenting <paramref name="clientCert"/> (none when null) and trusting only the test CA.</summary>
    public GatewayClient Client(string? clientCert = "client", Action<X509Certificate2>? serverCertificate = null) =>
        new(ClientUrl, TimeSpan.FromSeconds(10), ClientTls(certs, clientCert, serverCertificate));

    public static SslClientAuthenticationOptions ClientTls(TestCertificates certs, string? clientCert, Action<X509Certificate2>? serverCertificate = null)
    {
        var bundle = new X509Certificate2Collection();
        bundle.ImportFromPemFile(certs.CaFile);
        var ca = bundle[0];
        var options = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, cert, _, errors) =>
            {
                if (cert is null) return false;
                using var leaf = new X509Certificate2(cert);
                serverCertificate?.Invoke(leaf);
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(ca);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(leaf) && !errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch);
            },
        };
        if (clientCert is not null)
            options.ClientCertificates = [X509Certificate2.CreateFromPemFile(certs.Cert(clientCert), certs.Key(clientCert))];
        return options;
    }

    /// <summary>A port free on <paramref name="address"/> (bound, then released).</summary>
    public static int FreePort(string address) => FreePorts.On(address);

    private (string, string) Copy(string root, string from, string role)
    {
        var dir = Path.Combine(root, $"{Name}-certs");
        var cert = Path.Combine(dir, $"{role}.pem");
        var key = Path.Combine(dir, $"{role}-key.pem");
        File.Copy(certs.Cert(from), cert, overwrite: true);
        File.Copy(certs.Key(from), key, overwrite: true);
        return (cert, key);
    }

    /// <summary>Puts a fresh certificate (new key, new serial) of the CA in this member's files, as a rotation does; returns the old certificate's file.</summary>
    public string Rotate(string role, string cn, string root)
    {
        var dir = Path.Combine(root, $"{Name}-certs");
        var old = Path.Combine(dir, $"{role}-old.pem");
        File.Copy(Path.Combine(dir, $"{role}.pem"), old, overwrite: true);
        var issued = $"{Name}-{role}-rotated";
        certs.Issue(issued, cn);
        // Key first: a handshake between the two writes finds a mismatched pair, fails to load, and keeps the old one.
        File.Copy(certs.Key(issued), Path.Combine(dir, $"{role}-key.pem"), overwrite: true);
        File.Copy(certs.Cert(issued), Path.Combine(dir, $"{role}.pem"), overwrite: true);
        return old;
    }

    public void Kill() => Process?.Kill();

    [GeneratedRegex(@": member ([0-9a-f]+) of cluster ([0-9a-f]+);")]
    private static partial Regex StartLine();

    public void Dispose() => Process?.Dispose();
}
