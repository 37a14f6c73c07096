using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Raft.Interop;
using Raft.Kv.Codec;

namespace Raft.Kv.Lease;

/// <summary>
/// The leader's side of leases (etcd's lessor run loop and EtcdServer's revokeExpiredLeases): follows
/// this member's leadership, promoting the lessor (every lease gets its TTL again plus the election
/// timeout) when it becomes leader and demoting it when it stops, and, while leading, proposes a
/// revoke for each expired lease, so every member deletes the same keys at the same revision.
/// </summary>
public sealed class LeaseExpiryService(IServiceProvider services, ILogger<LeaseExpiryService> logger, TimeProvider? time = null) : BackgroundService
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>How often leadership and expiries are checked (etcd checks expiries every 500 ms).</summary>
    public static TimeSpan TickInterval { get; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The most revokes proposed per tick (etcd's leaseRevokeRate is 1000 per second).</summary>
    public const int RevokesPerTick = 100;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        IRaftNode node;
        try
        {
            // The hosted node is there once it has started; a host without one (a store on its own) has no leader to expire leases.
            if (services.GetService<Raft.Shell.Hosting.RaftNodeHostedService>() is { } hosted) node = await hosted.Started.WaitAsync(stoppingToken);
            else if (services.GetService<IRaftNode>() is { } given) node = given;
            else return;
        }
        catch (Exception e) when (e is OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            // Stopping, or the node failed to start (its hosted service reports that).
            return;
        }
        var lessor = services.GetRequiredService<KvStateMachine>().Lessor;
        var electionTimeout = node is Raft.Shell.Node.RaftNode r ? TimeSpan.FromMilliseconds(r.Options.ElectionTimeoutMs) : TimeSpan.FromSeconds(1);
        var heartbeat = node is Raft.Shell.Node.RaftNode h ? TimeSpan.FromMilliseconds(h.Options.HeartbeatIntervalMs) : TimeSpan.FromMilliseconds(100);
        // etcd's minLeaseTTL: 1.5 election timeouts (in heartbeat ticks), rounded up to whole seconds.
        lessor.MinTtl = (long)Math.Ceiling((3 * (long)(electionTimeout / heartbeat) / 2) * heartbeat.TotalSeconds);
        var revoking = new HashSet<long>();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TickInterval, _time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            var leading = node.Status.Role == NodeRole.Leader;
            if (leading && !lessor.IsPrimary)
            {
                lessor.Promote(electionTimeout);
                logger.LogInformation("leader: lessor promoted, {Count} leases extended by {Extend}", lessor.Count, electionTimeout);
            }
            else if (!leading && lessor.IsPrimary)
            {
                lessor.Demote();
                lock (revoking) revoking.Clear();
                logger.LogInformation("no longer leader: lessor demoted");
            }
            if (!leading) continue;
            foreach (var id in lessor.Expired(RevokesPerTick))
            {
                bool start;
                lock (revoking) start = revoking.Add(id);
                if (start) _ = RevokeAsync(node, id, revoking, stoppingToken);
            }
        }
    }

    private async Task RevokeAsync(IRaftNode node, long id, HashSet<long> revoking, CancellationToken ct)
    {
        try
        {
            await node.ProposeAsync(KvCommandCodec.Encode(new LeaseRevokeRequest(id)), ct);
        }
        catch (Exception e) when (e is RaftException or OperationCanceledException)
        {
            if (!ct.IsCancellationRequested) logger.LogWarning(e, "revoking expired lease {Id} failed; retried on a later tick", id);
        }
        finally
        {
            // The loop and these completions touch the set on the thread pool: guard it.
            lock (revoking) revoking.Remove(id);
        }
    }
}
