using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Raft.Interop;
using Raft.Kv;
using Raft.Kv.Http;

namespace Raft.Shell.Tests.Kv;

/// <summary>The key-value HTTP API on a real Kestrel server on 127.0.0.1 (a free port), over <see cref="SynchronousTestNode"/>.</summary>
internal sealed class KvTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private KvTestServer(WebApplication app, SynchronousTestNode? node, KvStateMachine store, Uri address)
    {
        _app = app;
        _node = node;
        Store = store;
        Client = new HttpClient { BaseAddress = address };
    }

    private readonly SynchronousTestNode? _node;

    /// <summary>The test double (for servers started over one).</summary>
    public SynchronousTestNode Node => _node ?? throw new InvalidOperationException("this server runs over a real node");

    public KvStateMachine Store { get; }

    public HttpClient Client { get; }

    public IServiceProvider Services => _app.Services;

    /// <param name="configure">The service's options.</param>
    /// <param name="services">Further registrations.</param>
    /// <param name="map">Further endpoints, mapped after the gateway's.</param>
    public static async Task<KvTestServer> StartAsync(Action<KvServiceOptions>? configure = null, Action<IServiceCollection>? services = null,
        Action<WebApplication>? map = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddKvService(configure);
        builder.Services.AddSingleton(sp => new SynchronousTestNode(sp.GetRequiredService<IStateMachine>()));
        builder.Services.AddSingleton<IRaftNode>(sp => sp.GetRequiredService<SynchronousTestNode>());
        services?.Invoke(builder.Services);
        var app = builder.Build();
        app.MapEtcdJsonApi();
        map?.Invoke(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new KvTestServer(app, app.Services.GetRequiredService<SynchronousTestNode>(), app.Services.GetRequiredService<KvStateMachine>(), new Uri(address));
    }

    /// <summary>The API over a given node and store (e.g. a real <see cref="Raft.Shell.Node.RaftNode"/>).</summary>
    public static async Task<KvTestServer> StartAsync(IRaftNode node, KvStateMachine store)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddSingleton(store);
        builder.Services.AddKvService();
        builder.Services.AddSingleton(node);
        var app = builder.Build();
        app.MapEtcdJsonApi();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new KvTestServer(app, null, store, new Uri(address));
    }

    /// <summary>POSTs <paramref name="json"/> as curl -d does, returning the status and body.</summary>
    public async Task<(int Status, string Body)> PostAsync(string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-www-form-urlencoded");
        using var response = await Client.PostAsync(path, content);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public async Task<HttpResponseMessage> GetAsync(string path) => await Client.GetAsync(path);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
