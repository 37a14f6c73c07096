using System.Diagnostics.Metrics;
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
        var pending = meter.CreateUpDownCounter<int>("etcd_server_proposals_pending", description: "Pending\\proposals\nnow.");
        var fsync = meter.CreateHistogram<double>("etcd_disk_wal_fsync_duration_seconds", unit: "s", description: "fsync latency.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.002, 0.004] });
        var leader = 1;
        meter.CreateObservableGauge("etcd_server_has_leader", () => leader, description: "Whether or not a leader exists.");

        puts.Add(2);
        puts.Add(3);
        pending.Add(4);
        pending.Add(-1);
        foreach (var v in new[] { 0.0005, 0.002, 0.003, 10 }) fsync.Record(v);

        Assert.Equal(
            "# HELP etcd_disk_wal_fsync_duration_seconds fsync latency.\n" +
            "# TYPE etcd_disk_wal_fsync_duration_seconds histogram\n" +
            "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.001\"} 1\n" +
            "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.002\"} 2\n" +
            "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.004\"} 3\n" +
            "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"+Inf\"} 4\n" +
            "etcd_disk_wal_fsync_duration_seconds_sum 10.0055\n" +
            "etcd_disk_wal_fsync_duration_seconds_count 4\n" +
            "# HELP etcd_mvcc_put_total Total number of puts.\n" +
            "# TYPE etcd_mvcc_put_total counter\n" +
            "etcd_mvcc_put_total 5\n" +
            "# HELP etcd_server_has_leader Whether or not a leader exists.\n" +
            "# TYPE etcd_server_has_leader gauge\n" +
            "etcd_server_has_leader 1\n" +
            "# HELP etcd_server_proposals_pending Pending\\\\proposals\\nnow.\n" +
            "# TYPE etcd_server_proposals_pending gauge\n" +
            "etcd_server_proposals_pending 3\n",
            exporter.ScrapeText());

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
        sent.Add(5, new KeyValuePair<string, object?>("to", "say \"hi\"\\"));
        var peers = new List<Measurement<long>> { new(1, new KeyValuePair<string, object?>("peer", "2")), new(0, new KeyValuePair<string, object?>("peer", "3")) };
        meter.CreateObservableGauge("peer_active", () => peers.ToArray());

        var text = exporter.ScrapeText();
        Assert.Contains("# TYPE raft_peer_sent counter\n", text);
        Assert.DoesNotContain("# HELP raft_peer_sent", text);
        Assert.Contains("raft_peer_sent{kind=\"MsgApp\",member=\"a1\",to=\"2\"} 2\n", text);
        Assert.Contains("raft_peer_sent{member=\"a1\",to=\"say \\\"hi\\\"\\\\\"} 5\n", text);
        Assert.Contains("peer_active{member=\"a1\",peer=\"2\"} 1\npeer_active{member=\"a1\",peer=\"3\"} 0\n", text);

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
    public void OnlyTheChosenMetersAreExportedAndDisposedMetersVanish()
    {
        var (meter, exporter) = Fresh();
        using var __ = exporter;
        using var other = new Meter("Raft.Tests.Exporter.Other." + Guid.NewGuid().ToString("N"));
        other.CreateCounter<long>("not_mine").Add(1);
        meter.CreateCounter<long>("mine").Add(1);
        var text = exporter.ScrapeText();
        Assert.Contains("mine 1\n", text);
        Assert.DoesNotContain("not_mine", text);

        meter.Dispose();
        Assert.Equal("", exporter.ScrapeText());
    }

    [Fact]
    public void ByNameExportsInstrumentsCreatedBeforeAndAfterTheExporter()
    {
        var name = "Raft.Tests.Exporter.Named." + Guid.NewGuid().ToString("N");
        using var meter = new Meter(name);
        meter.CreateCounter<int>("before").Add(1);
        using var exporter = new PrometheusExporter([name]);
        meter.CreateCounter<int>("after").Add(2);
        meter.CreateCounter<int>("before_only_counts_after_start").Add(3);
        var text = exporter.ScrapeText();
        Assert.Contains("after 2\n", text);
        Assert.Contains("before_only_counts_after_start 3\n", text);
        // Measurements made before the exporter listened are not seen; the instrument is.
        Assert.Contains("# TYPE before counter\n", text);
    }

    [Theory]
    [InlineData(1.0, "1")]
    [InlineData(0.001, "0.001")]
    [InlineData(1e-05, "1e-05")]
    [InlineData(10.0055, "10.0055")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    [InlineData(double.NaN, "NaN")]
    [InlineData(-3.0, "-3")]
    public void ValuesAreFormattedAsPrometheusParsesThem(double value, string text) =>
        Assert.Equal(text, PrometheusExporter.FormatValue(value));

    [Theory]
    [InlineData("etcd_server_has_leader", "etcd_server_has_leader")]
    [InlineData("kestrel.active-connections", "kestrel_active_connections")]
    [InlineData("9lives", "_lives")]
    [InlineData("a:b", "a:b")]
    public void NamesKeepWhatPrometheusAllows(string name, string sanitized) =>
        Assert.Equal(sanitized, PrometheusExporter.SanitizeName(name));
}
