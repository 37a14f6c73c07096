using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Raft.Shell.Hosting;
using Microsoft.Extensions.Logging;
using Raft.Interop;
using Raft.Kv;
using Raft.Kv.Http;
using Raft.Kv.Tls;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Kv;
using Raft.Shell.Transport.Tls;

namespace Raft.Shell.Tests.Tls;

/// <summary>A C# host secures its node without the command line: TLS settings given as X509 objects.</summary>
public sealed class LibraryTlsTests : IClassFixture<PeerTlsTests.Certs>
{
    private readonly TestCertificates certs;

    public LibraryTlsTests(PeerTlsTests.Certs fixture) => certs = fixture.Value;

    private TlsOptions FromObjects(string name)
    {
        var ca = new X509Certificate2Collection();
        ca.ImportFromPemFile(certs.CaFile);
        return new TlsOptions
        {
            Certificate = X509Certificate2.CreateFromPemFile(certs.Cert(name), certs.Key(name)),
            TrustedCertificates = ca,
            ClientCertAuth = true,
        };
    }

    [Fact]
    public async Task KestrelServesTheGatewayOverMutualTlsWithCertificateObjects()
    {
        var tls = FromObjects("server");
        Assert.Empty(tls.Validate(p => p));
        await using var app = await StartGatewayAsync(tls);
        var address = Address(app);
        Assert.StartsWith("https://127.0.8.4:", address, StringComparison.Ordinal);

        using (var client = new GatewayClient(address, TimeSpan.FromSeconds(10), TlsMember.ClientTls(certs, "client")))
        {
            Assert.True((await client.PutAsync("lib", "tls"))?.Ok);
            Assert.Equal("tls", await client.GetValueAsync("lib"));
        }
        using (var anonymous = new GatewayClient(address, TimeSpan.FromSeconds(10), TlsMember.ClientTls(certs, null)))
            Assert.Null(await anonymous.PutAsync("lib", "refused"));
        using (var stranger = new GatewayClient(address, TimeSpan.FromSeconds(10), TlsMember.ClientTls(certs, "other")))
            Assert.Null(await stranger.PutAsync("lib", "refused"));
        await app.StopAsync();
    }

    [Fact]
    public async Task AClientCertificateOnTheCrlIsRefused()
    {
        // etcd's --client-crl-file; the CRL is read again when it changes, like the certificates.
        var tls = FromObjects("server");
        tls.CrlFile = certs.RevokeFiles();
        await using var app = await StartGatewayAsync(tls);
        using (var client = new GatewayClient(Address(app), TimeSpan.FromSeconds(10), TlsMember.ClientTls(certs, "client")))
            Assert.True((await client.PutAsync("crl", "before"))?.Ok);
        certs.RevokeFiles(certs.Cert("client"));
        using (var revoked = new GatewayClient(Address(app), TimeSpan.FromSeconds(10), TlsMember.ClientTls(certs, "client")))
            Assert.Null(await revoked.PutAsync("crl", "after"));
        await app.StopAsync();
    }

    private static string Address(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();

    private static async Task<WebApplication> StartGatewayAsync(TlsOptions tls)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKvClientUrls("https://127.0.8.4:0", tls);
        builder.Services.AddKvService();
        builder.Services.AddSingleton(sp => new SynchronousTestNode(sp.GetRequiredService<IStateMachine>()));
        builder.Services.AddSingleton<IRaftNode>(sp => sp.GetRequiredService<SynchronousTestNode>());
        var app = builder.Build();
        app.MapEtcdJsonApi();
        await app.StartAsync();
        return app;
    }

    [Fact]
    public async Task PeersTalkOverMutualTlsWithCertificateObjects()
    {
        await using var a = await Transport.TestNode.StartAsync(1, configure: o => { o.Tls = FromObjects("peer"); o.ListenPeerUrls = ["https://127.0.8.4:0"]; });
        await using var b = await Transport.TestNode.StartAsync(2, configure: o => { o.Tls = FromObjects("peer2"); o.ListenPeerUrls = ["https://127.0.8.4:0"]; });
        a.Transport.AddPeer(2, [$"https://{b.Endpoint}"]);
        b.Transport.AddPeer(1, [$"https://{a.Endpoint}"]);
        await PeerTlsTests.Connected(a, b, TimeSpan.FromSeconds(20));
    }

    [Fact]
    public void PeerTlsBindsFromConfigurationKeys()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Raft:ListenPeerUrls"] = "https://127.0.8.4:0",
            ["Raft:InitialAdvertisePeerUrls"] = "https://127.0.8.4:2380",
            ["Raft:PeerTls:CertFile"] = certs.Cert("peer"),
            ["Raft:PeerTls:KeyFile"] = certs.Key("peer"),
            ["Raft:PeerTls:TrustedCaFile"] = certs.CaFile,
            ["Raft:PeerTls:ClientCertAuth"] = "true",
            ["Raft:PeerTls:AllowedCn"] = "member",
            ["Raft:PeerTls:CipherSuites:0"] = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        });
        builder.Services.AddRaftNode();
        using var host = builder.Build();
        var o = host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Raft.Shell.Node.RaftNodeOptions>>().Value;
        Assert.Equal(certs.Cert("peer"), o.PeerTls.CertFile);
        Assert.True(o.PeerTls.ClientCertAuth);
        Assert.Equal("member", o.PeerTls.AllowedCn);
        Assert.Equal(["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"], o.PeerTls.CipherSuites);
        Assert.False(o.ClientTls.IsEnabled);
    }

    [Fact]
    public void HttpsWithoutACertificateIsRefusedAtBuild()
    {
        var builder = WebApplication.CreateSlimBuilder();
        Assert.Throws<ArgumentException>(() => builder.WebHost.UseKvClientUrls("https://127.0.8.4:0", new TlsOptions()));
    }
}
