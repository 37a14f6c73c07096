using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Prometheus;
using Raft.Kv.Metrics;

namespace Raft.Shell.Tests.Kv;

public class PrometheusExporterTests
{
    private static (Meter Meter, PrometheusExporter Exporter) Fresh(IEnumerable<KeyValuePair<string, object?>>? meterTags = null)
    {
        var meter = new Meter(new MeterOptions("Raft.Tests.Exporter." + Guid.NewGuid().ToString("N")) { Tags = meterTags });
        return (meter, new PrometheusExporter(m => ReferenceEquals(m, meter)));
    }

    [Fact]
    public void CountersGaugesAndHistogramsInExpositionFormat()
    {
        var (meter, exporter) = Fresh();
        using var _ = meter;
        using var __ = exporter;
        var puts = meter.CreateCounter<long>("etcd_mvcc_put_total", description: "Total number of puts.");
        var pending = meter.CreateUpDownCounter<int>("etcd_server_proposals_pending", description: "Pending proposals.");
        var fsync = meter.CreateHistogram<double>("etcd_disk_wal_fsync_duration_seconds", unit: "s", description: "fsync latency.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.002, 0.004] });
        var leader = 1;
        meter.CreateObservableGauge("etcd_server_has_leader", () => leader, description: "Whether or not a leader exists.");

        puts.Add(2);
        puts.Add(3);
        pending.Add(4);
        pending.Add(-1);
        foreach (var v in new[] { 0.0005, 0.002, 0.003, 10 }) fsync.Record(v);

        var text = exporter.ScrapeText();
        Assert.Contains(
            "# HELP etcd_disk_wal_fsync_duration_seconds fsync latency.\n" +
            "# TYPE etcd_disk_wal_fsync_duration_seconds histogram\n" +
            "etcd_disk_wal_fsync_duration_seconds_sum 10.0055\n" +
            "etcd_disk_wal_fsync_duration_seconds_count 4\n" +
            "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.001\"} 1\n" +
            "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.002\"} 2\n" +
            "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.004\"} 3\n" +
            "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"+Inf\"} 4\n", text);
        Assert.Contains("# HELP etcd_mvcc_put_total Total number of puts.\n# TYPE etcd_mvcc_put_total counter\netcd_mvcc_put_total 5\n", text);
        Assert.Contains("# HELP etcd_server_has_leader Whether or not a leader exists.\n# TYPE etcd_server_has_leader gauge\netcd_server_has_leader 1\n", text);
        Assert.Contains("# HELP etcd_server_proposals_pending Pending proposals.\n# TYPE etcd_server_proposals_pending gauge\netcd_server_proposals_pending 3\n", text);

        leader = 0;
        Assert.Contains("etcd_server_has_leader 0\n", exporter.ScrapeText());
    }

    [Fact]
    public void TagsBecomeSortedEscapedLabelsAndObservedSeriesComeAndGo()
    {
        var (meter, exporter) = Fresh([new("member", "a1")]);
        using var _ = meter;
        using var __ = exporter;
        var sent = meter.CreateCounter<long>("raft.peer-sent", description: null);
        sent.Add(1, new KeyValuePair<string, object?>("to", "2"), new KeyValuePair<string, object?>("kind", "MsgApp"));
        sent.Add(1, new KeyValuePair<string, object?>("kind", "MsgApp"), new KeyValuePair<string, object?>("to", "2"));
        sent.Add(5, new KeyValuePair<string, object?>("kind", "MsgHeartbeat"), new KeyValuePair<string, object?>("to", "say \"hi\"\\"));
        var peers = new List<Measurement<long>> { new(1, new KeyValuePair<string, object?>("peer", "2")), new(0, new KeyValuePair<string, object?>("peer", "3")) };
        meter.CreateObservableGauge("peer_active", () => peers.ToArray());

        var text = exporter.ScrapeText();
        Assert.Contains("# TYPE raft_peer_sent counter\n", text);
        Assert.Contains("raft_peer_sent{kind=\"MsgApp\",member=\"a1\",to=\"2\"} 2\n", text);
        Assert.Contains("raft_peer_sent{kind=\"MsgHeartbeat\",member=\"a1\",to=\"say \\\"hi\\\"\\\\\"} 5\n", text);
        Assert.Contains("peer_active{member=\"a1\",peer=\"2\"} 1\n", text);
        Assert.Contains("peer_active{member=\"a1\",peer=\"3\"} 0\n", text);

        peers.RemoveAt(1);
        text = exporter.ScrapeText();
        Assert.Contains("peer_active{member=\"a1\",peer=\"2\"} 1\n", text);
        Assert.DoesNotContain("peer=\"3\"", text);
    }

    [Fact]
    public void HistogramsWithoutAdviceUsePrometheusDefaultBuckets()
    {
        var (meter, exporter) = Fresh();
        using var _ = meter;
        using var __ = exporter;
        meter.CreateHistogram<long>("request_seconds").Record(3);
        var text = exporter.ScrapeText();
        Assert.Contains("request_seconds_bucket{le=\"0.005\"} 0\n", text);
        Assert.Contains("request_seconds_bucket{le=\"2.5\"} 0\nrequest_seconds_bucket{le=\"5\"} 1\nrequest_seconds_bucket{le=\"10\"} 1\nrequest_seconds_bucket{le=\"+Inf\"} 1\n", text);
        Assert.Contains("request_seconds_sum 3\nrequest_seconds_count 1\n", text);
    }

    [Fact]
    public void OnlyTheChosenMetersAreExportedAndADisposedMetersSeriesVanish()
    {
        var (meter, exporter) = Fresh();
        using var __ = exporter;
        using var other = new Meter("Raft.Tests.Exporter.Other." + Guid.NewGuid().ToString("N"));
        other.CreateCounter<long>("not_mine").Add(1);
        meter.CreateCounter<long>("mine").Add(1, new KeyValuePair<string, object?>("To", "2"));
        var text = exporter.ScrapeText();
        Assert.Contains("mine{To=\"2\"} 1\n", text);
        Assert.DoesNotContain("not_mine", text);

        meter.Dispose();
        Assert.DoesNotContain("mine{", exporter.ScrapeText());
    }

    [Fact]
    public void ByNameExportsInstrumentsCreatedBeforeAndAfterTheExporter()
    {
        var name = "Raft.Tests.Exporter.Named." + Guid.NewGuid().ToString("N");
        using var meter = new Meter(name);
        var before = meter.CreateCounter<int>("before");
        before.Add(1);
        using var exporter = new PrometheusExporter([name]);
        meter.CreateCounter<int>("after").Add(2);
        before.Add(3);
        var text = exporter.ScrapeText();
        Assert.Contains("after 2\n", text);
        // Measurements made before the exporter listened are not seen.
        Assert.Contains("before 3\n", text);
    }

    [Fact]
    public void EachMembersExporterShowsOnlyItsOwnMeters()
    {
        // Two members in one process: each has its own container, meter factory and Raft.Node meter.
        using var one = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var two = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factoryOne = one.GetRequiredService<IMeterFactory>();
        var factoryTwo = two.GetRequiredService<IMeterFactory>();
        using var exporterOne = new PrometheusExporter(["Raft.Node"], factoryOne);
        using var exporterTwo = new PrometheusExporter(["Raft.Node"], factoryTwo);
        using var unscoped = new PrometheusExporter(["Raft.Node"]);
        factoryOne.Create("Raft.Node").CreateCounter<long>("etcd_server_leader_changes_seen_total").Add(1);
        factoryTwo.Create("Raft.Node").CreateCounter<long>("etcd_server_leader_changes_seen_total").Add(2);

        Assert.Contains("etcd_server_leader_changes_seen_total 1\n", exporterOne.ScrapeText());
        Assert.Contains("etcd_server_leader_changes_seen_total 2\n", exporterTwo.ScrapeText());
        // By name alone, the members' figures mix: the scoping is what keeps them apart.
        Assert.Contains("etcd_server_leader_changes_seen_total 3\n", unscoped.ScrapeText());
    }

    [Fact]
    public async Task PrometheusNetsMeterAdapterRenamesAndRetypes()
    {
        // Why PrometheusExporter bridges the instruments itself rather than through prometheus-net's
        // MeterAdapter: the adapter prefixes the meter's name and exports a counter as a gauge.
        var meterName = "Raft.Tests.Adapter." + Guid.NewGuid().ToString("N");
        using var meter = new Meter(meterName);
        var registry = Metrics.NewCustomRegistry();
        using var adapter = MeterAdapter.StartListening(new MeterAdapterOptions
        {
            InstrumentFilterPredicate = i => ReferenceEquals(i.Meter, meter),
            Registry = registry,
            // Without this the adapter creates its metrics in prometheus-net's default registry.
            MetricFactory = Metrics.WithCustomRegistry(registry),
        });
        meter.CreateCounter<long>("etcd_server_leader_changes_seen_total").Add(5);
        using var stream = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(stream);
        var text = System.Text.Encoding.UTF8.GetString(stream.ToArray());

        var renamed = meterName.Replace('.', '_').ToLowerInvariant() + "_etcd_server_leader_changes_seen_total";
        Assert.Contains($"# TYPE {renamed} gauge\n{renamed} 5\n", text);
        Assert.DoesNotContain("\netcd_server_leader_changes_seen_total ", "\n" + text);
    }

    [Theory]
    [InlineData("etcd_server_has_leader", "etcd_server_has_leader")]
    [InlineData("kestrel.active-connections", "kestrel_active_connections")]
    [InlineData("9lives", "_lives")]
    [InlineData("a:b", "a:b")]
    public void NamesKeepWhatPrometheusAllows(string name, string sanitized) =>
        Assert.Equal(sanitized, PrometheusExporter.SanitizeName(name));
}
