using System.Diagnostics.Metrics;
using System.Text.Json;
using Raft.Interop;

namespace Raft.Kv.Dashboard;

/// <summary>
/// What the cluster page shows over time for this member, sampled in process: request rates and
/// latencies (from ASP.NET Core's own <c>http.server.request.duration</c>, so the gateway needs no
/// timing code of its own), leader changes (the node's <see cref="IRaftNode.LeaderChanged"/>) and
/// late heartbeats (the node's <c>etcd_server_heartbeat_send_failures_total</c>). Only this host's
/// meters are listened to, so several members in one process each see their own.
/// </summary>
internal sealed class DashboardSampler : IDisposable
{
    private const int KeptEvents = 20;

    // The routes whose requests change the store, and those that read it; gRPC's method paths too,
    // so the charts keep working when clients move to etcd's gRPC API.
    private static readonly HashSet<string> WriteRoutes =
        ["/v3/kv/put", "/v3/kv/deleterange", "/v3/kv/txn", "/etcdserverpb.KV/Put", "/etcdserverpb.KV/DeleteRange", "/etcdserverpb.KV/Txn"];
    private static readonly HashSet<string> ReadRoutes = ["/v3/kv/range", "/etcdserverpb.KV/Range"];

    private readonly MeterListener _listener = new();
    private readonly TimeProvider _clock;
    private readonly Func<IRaftNode?> _node;
    private readonly ITimer _attach;
    private readonly Lock _lock = new();
    private readonly Queue<LeaderChange> _leaderChanges = new();
    private readonly Queue<DateTimeOffset> _heartbeatsLate = new();
    private long _heartbeatsLateTotal;
    private IRaftNode? _attached;

    /// <param name="scope">This host's meter factory: only meters it created are listened to; null for every meter.</param>
    /// <param name="node">The node once the host has started it, else null.</param>
    /// <param name="clock">Wall clock.</param>
    public DashboardSampler(object? scope, Func<IRaftNode?> node, TimeProvider clock)
    {
        _clock = clock;
        _node = node;
        Rates = new RateWindow(TimeSpan.FromSeconds(2), 150, clock);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (scope is not null && !ReferenceEquals(instrument.Meter.Scope, scope))
                return;
            if (instrument is { Name: "http.server.request.duration", Meter.Name: "Microsoft.AspNetCore.Hosting" }
                || instrument is { Name: "etcd_server_heartbeat_send_failures_total", Meter.Name: "Raft.Node" })
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<double>(OnDuration);
        _listener.SetMeasurementEventCallback<long>(OnHeartbeatLate);
        _listener.Start();
        // The node starts with the host, after the endpoints are mapped: look for it until it is there.
        _attach = clock.CreateTimer(_ => Attach(), null, TimeSpan.Zero, TimeSpan.FromMilliseconds(250));
    }

    /// <summary>Requests of the last five minutes in two-second buckets.</summary>
    public RateWindow Rates { get; }

    private void OnDuration(Instrument instrument, double seconds, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        foreach (var tag in tags)
        {
            if (tag is { Key: "http.route", Value: string route })
            {
                if (WriteRoutes.Contains(route))
                    Rates.Record(write: true, seconds * 1000);
                else if (ReadRoutes.Contains(route))
                    Rates.Record(write: false, seconds * 1000);
                return;
            }
        }
    }

    private void OnHeartbeatLate(Instrument instrument, long increment, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        lock (_lock)
        {
            _heartbeatsLateTotal += increment;
            Keep(_heartbeatsLate, _clock.GetUtcNow());
        }
    }

    private void Attach()
    {
        if (Volatile.Read(ref _attached) is not null)
            return;
        IRaftNode? node;
        try
        {
            node = _node();
        }
        catch (InvalidOperationException)
        {
            // The host has not started the node yet (or failed to).
            return;
        }
        if (node is null || Interlocked.CompareExchange(ref _attached, node, null) is not null)
            return;
        node.LeaderChanged += OnLeaderChanged;
        _attach.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    private void OnLeaderChanged(object? sender, LeaderChangedEventArgs e)
    {
        lock (_lock) Keep(_leaderChanges, new LeaderChange(_clock.GetUtcNow(), e.PreviousLeader, e.Leader, e.Term));
    }

    private static void Keep<T>(Queue<T> queue, T item)
    {
        queue.Enqueue(item);
        while (queue.Count > KeptEvents)
            queue.Dequeue();
    }

    /// <summary>Writes <c>leader_changes</c> and <c>heartbeat_late</c> (newest last).</summary>
    public void WriteEvents(Utf8JsonWriter w)
    {
        lock (_lock)
        {
            w.WriteStartArray("leader_changes"u8);
            foreach (var c in _leaderChanges)
            {
                w.WriteStartObject();
                w.WriteNumber("t"u8, c.At.ToUnixTimeMilliseconds());
                w.WriteString("from"u8, SelfReport.Hex(c.From));
                w.WriteString("to"u8, SelfReport.Hex(c.To));
                w.WriteNumber("term"u8, c.Term);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("heartbeat_late"u8);
            w.WriteNumber("total"u8, _heartbeatsLateTotal);
            w.WriteStartArray("recent"u8);
            foreach (var t in _heartbeatsLate)
                w.WriteNumberValue(t.ToUnixTimeMilliseconds());
            w.WriteEndArray();
            w.WriteEndObject();
        }
    }

    public void Dispose()
    {
        _attach.Dispose();
        _listener.Dispose();
        if (Interlocked.Exchange(ref _attached, null) is { } node)
            node.LeaderChanged -= OnLeaderChanged;
    }

    private sealed record LeaderChange(DateTimeOffset At, ulong From, ulong To, ulong Term);
}
