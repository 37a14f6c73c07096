using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Raft.Interop;
using Raft.Kv.Codec;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Compaction;

/// <summary>
/// Runs <see cref="AutoCompactor"/> on the leader (etcd pauses its compactor on followers) and
/// proposes its compactions through Raft, so every member compacts at the same revision.
/// Disabled unless <see cref="KvServiceOptions.AutoCompactionRetention"/> is set.
/// </summary>
/// <remarks>The node and the store are resolved only when enabled, so a disabled service changes nothing about the host's start.</remarks>
public sealed class AutoCompactionService(
    IServiceProvider services, IOptions<KvServiceOptions> options, ILogger<AutoCompactionService> logger, TimeProvider? time = null)
    : BackgroundService
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        var compactor = AutoCompactor.FromOptions(o.AutoCompactionMode, o.AutoCompactionRetention, _time.GetUtcNow());
        if (compactor is null) return;
        var node = services.GetRequiredService<IRaftNode>();
        var store = services.GetRequiredService<KvStateMachine>();
        logger.LogInformation("auto compaction: mode {Mode}, retention {Retention}, checking every {Interval}",
            o.AutoCompactionMode, o.AutoCompactionRetention, compactor.TickInterval);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(compactor.TickInterval, _time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            if (node.Status.Role != NodeRole.Leader) continue;
            if (compactor.Tick(_time.GetUtcNow(), store.Store.CurrentRevision) is not { } revision) continue;
            object? result;
            try
            {
                result = await node.ProposeAsync(KvCommandCodec.Encode(new CompactionRequest(revision)), stoppingToken);
            }
            catch (Exception e) when (e is RaftException or OperationCanceledException && !stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(e, "auto compaction at revision {Revision} failed", revision);
                compactor.Compacted(revision, false, _time.GetUtcNow());
                continue;
            }
            var done = result is CompactionResponse || (result is KvError { Kind: KvErrorKind.Compacted });
            if (done) logger.LogInformation("auto compaction at revision {Revision} done", revision);
            else logger.LogWarning("auto compaction at revision {Revision} failed: {Result}", revision, result);
            compactor.Compacted(revision, done, _time.GetUtcNow());
        }
    }
}
