using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Raft.Interop;
using Raft.Shell.Node;
using Raft.Shell.Node.Advanced;

namespace Raft.Shell.Hosting;

/// <summary>
/// Runs a <see cref="RaftNode"/> for the lifetime of a host: starts it with the host, stops it
/// gracefully with the host, and stops the host (exit code 1) when the node fails or is removed.
/// </summary>
public sealed class RaftNodeHostedService : IHostedService, IAsyncDisposable
{
    private readonly IServiceProvider _services;
    private readonly IOptions<RaftNodeOptions> _options;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger _log;
    private readonly TaskCompletionSource<RaftNode> _node = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Created by the container.</summary>
    public RaftNodeHostedService(IServiceProvider services, IOptions<RaftNodeOptions> options, IHostApplicationLifetime lifetime, ILogger<RaftNodeHostedService> log)
    {
        _services = services;
        _options = options;
        _lifetime = lifetime;
        _log = log;
    }

    /// <summary>The running node; throws before the host has started it.</summary>
    public RaftNode Node => _node.Task.IsCompletedSuccessfully
        ? _node.Task.Result
        : throw new InvalidOperationException("the raft node has not started yet");

    /// <summary>Completes with the node once it has started.</summary>
    public Task<RaftNode> Started => _node.Task;

    /// <inheritdoc/>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = _options.Value;
        var deps = new RaftNodeDependencies
        {
            LoggerFactory = _services.GetService<ILoggerFactory>(),
            MeterFactory = _services.GetService<IMeterFactory>(),
            Planner = _services.GetService<PlannerFunction>(),
            Transport = _services.GetService<PeerTransportFactory>(),
            FetchCluster = _services.GetService<ClusterFetcher>(),
        };
        try
        {
            var node = await RaftNode.StartMakingStateMachineAsync(options, () => _services.GetRequiredService<IStateMachine>(), deps, cancellationToken).ConfigureAwait(false);
            _node.TrySetResult(node);
            _ = node.Stopped.ContinueWith(t =>
            {
                if (_lifetime.ApplicationStopping.IsCancellationRequested)
                    return;
                // The node stopped on its own: it failed, or it was removed from the cluster.
                if (t.Exception is { } ex)
                    _log.LogCritical(ex.InnerException ?? ex, "the raft node failed; stopping the host");
                else
                    _log.LogWarning("the raft node stopped; stopping the host");
                Environment.ExitCode = 1;
                _lifetime.StopApplication();
            }, TaskScheduler.Default);
            _log.LogInformation("raft member {Name} ({Id:x}) of cluster {ClusterId:x} started, data in {DataDir}",
                options.Name, node.MemberId, node.ClusterId, Path.GetFullPath(options.EffectiveDataDir));
        }
        catch (Exception ex)
        {
            _node.TrySetException(ex);
            throw;
        }
    }

    /// <inheritdoc/>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_node.Task.IsCompletedSuccessfully)
            await _node.Task.Result.StopAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_node.Task.IsCompletedSuccessfully)
            await _node.Task.Result.DisposeAsync().ConfigureAwait(false);
    }
}
