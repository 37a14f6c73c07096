using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;

namespace Raft.Shell.Tests.Grpc;

/// <summary>
/// <c>etcdctl watch</c> (3.4) as background processes against one <c>raft serve</c> process: the
/// events they print after puts, deletes and a txn are checked against the revisions etcdctl's own
/// writes reported; a watch from before a compaction is cancelled with etcd's error.
/// </summary>
[Collection(ProcessCollection.Name)]
public class EtcdctlWatchTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    /// <summary>An etcdctl watch printing one JSON line per response, read as it goes.</summary>
    private sealed class BackgroundWatch : IDisposable
    {
        private readonly Process _process;
        private readonly List<JsonNode> _responses = [];
        private readonly StringBuilder _stderr = new();

        public BackgroundWatch(string endpoint, params string[] args)
        {
            var psi = new ProcessStartInfo(Etcdctl.Require())
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            psi.Environment["ETCDCTL_API"] = "3";
            psi.ArgumentList.Add("--endpoints=" + endpoint);
            psi.ArgumentList.Add("watch");
            foreach (var a in args) psi.ArgumentList.Add(a);
            psi.ArgumentList.Add("-w");
            psi.ArgumentList.Add("json");
            CommandLine = "etcdctl " + string.Join(" ", psi.ArgumentList);
            _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start etcdctl");
            _process.OutputDataReceived += (_, e) =>
            {
                if (string.IsNullOrWhiteSpace(e.Data)) return;
                lock (_responses) _responses.Add(JsonNode.Parse(e.Data)!);
            };
            _process.ErrorDataReceived += (_, e) =>
            {
                lock (_stderr) _stderr.AppendLine(e.Data);
            };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public string CommandLine { get; }

        public string Stderr
        {
            get { lock (_stderr) return _stderr.ToString(); }
        }

        public List<JsonNode> Responses
        {
            get { lock (_responses) return [.. _responses]; }
        }

        /// <summary>Each printed event as "TYPE key value [prev value] @mod/create/version", one response per list.</summary>
        public List<List<string>> Events() =>
            Responses.Select(r => (r["Events"] as JsonArray ?? []).Select(e => Show(e!)).ToList()).Where(l => l.Count > 0).ToList();

        public async Task WaitForEventsAsync(int count)
        {
            await Wait.UntilAsync($"{count} events from {CommandLine}", Generous, () => Task.FromResult(Events().Sum(l => l.Count) >= count), () => Stderr);
        }

        public void Dispose()
        {
            try
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
            }
            _process.Dispose();
        }

        private static string Text(JsonNode? b64) => b64 is null ? "" : Encoding.UTF8.GetString(Convert.FromBase64String(b64.GetValue<string>()));

        private static long Num(JsonNode? n) => n is null ? 0 : n.GetValue<long>();

        private static string Show(JsonNode e)
        {
            var type = Num(e["type"]) == 1 ? "DELETE" : "PUT";
            var kv = e["kv"]!;
            var prev = e["prev_kv"] is { } p ? $" prev={Text(p["value"])}" : "";
            return $"{type} {Text(kv["key"])}={Text(kv["value"])}{prev} @{Num(kv["mod_revision"])}/{Num(kv["create_revision"])}/{Num(kv["version"])}";
        }
    }

    private static async Task<long> PutAsync(string[] at, string key, string value) =>
        (await Etcdctl.OkAsync(at, "put", key, value, "-w", "json")).Json["header"]!["revision"]!.GetValue<long>();

    private static async Task<long> DelAsync(string[] at, string key) =>
        (await Etcdctl.OkAsync(at, "del", key, "-w", "json")).Json["header"]!["revision"]!.GetValue<long>();

    [Fact]
    public async Task EtcdctlWatchPrintsTheEventsOfKeysPrefixesAndPastRevisions()
    {
        Etcdctl.Require();
        using var cluster = new ProcessCluster(1, "--heartbeat-interval", "20", "--election-timeout", "200");
        var m = await EtcdctlSingleMemberTests.StartAsync(cluster);
        string[] at = [m.ClientUrl];

        var r1 = await PutAsync(at, "a", "1");
        var r2 = await PutAsync(at, "a", "2");
        // Watches from the next revision, so none can miss a write that races its creation.
        var next = r2 + 1;
        using var key = new BackgroundWatch(m.ClientUrl, "a", $"--rev={next}");
        using var prefix = new BackgroundWatch(m.ClientUrl, "foo", "--prefix", "--prev-kv", $"--rev={next}");
        using var past = new BackgroundWatch(m.ClientUrl, "a", $"--rev={r1}");

        var rx = await PutAsync(at, "foo/x", "1");
        var ra = await PutAsync(at, "a", "3");
        var ry = await PutAsync(at, "foo/y", "2");
        var rx2 = await PutAsync(at, "foo/x", "11");
        var rdx = await DelAsync(at, "foo/x");
        var rda = await DelAsync(at, "a");
        var txn = await Etcdctl.RunWithInputAsync(at, "\nput foo/t1 t1\nput foo/t2 t2\n\n\n", "txn", "-w", "json");
        Assert.True(txn.Ok, txn.ToString());
        var rt = txn.Json["header"]!["revision"]!.GetValue<long>();

        await key.WaitForEventsAsync(2);
        await prefix.WaitForEventsAsync(6);
        await past.WaitForEventsAsync(4);

        Assert.Equal([$"PUT a=3 @{ra}/{r1}/3", $"DELETE a= @{rda}/0/0"], key.Events().SelectMany(l => l));
        Assert.Equal([$"PUT a=1 @{r1}/{r1}/1", $"PUT a=2 @{r2}/{r1}/2", $"PUT a=3 @{ra}/{r1}/3", $"DELETE a= @{rda}/0/0"], past.Events().SelectMany(l => l));
        var prefixEvents = prefix.Events();
        Assert.Equal(
            [$"PUT foo/x=1 @{rx}/{rx}/1", $"PUT foo/y=2 @{ry}/{ry}/1", $"PUT foo/x=11 prev=1 @{rx2}/{rx}/2", $"DELETE foo/x= prev=11 @{rdx}/0/0",
             $"PUT foo/t1=t1 @{rt}/{rt}/1", $"PUT foo/t2=t2 @{rt}/{rt}/1"],
            prefixEvents.SelectMany(l => l));
        // The txn's two events come in one response.
        Assert.Equal(2, prefixEvents[^1].Count);
        // Every response's header is this member's, at a revision no lower than its events.
        foreach (var r in prefix.Responses)
        {
            Assert.Equal(m.Id, r["Header"]!["member_id"]!.GetValue<ulong>());
            Assert.True(r["Header"]!["revision"]!.GetValue<long>() >= (r["Events"]?.AsArray().Max(e => e!["kv"]!["mod_revision"]!.GetValue<long>()) ?? 0));
        }

        // A watch from before a compaction is cancelled, and etcdctl says why.
        await Etcdctl.OkAsync(at, "compaction", rx.ToString());
        using var compacted = new BackgroundWatch(m.ClientUrl, "a", $"--rev={r1}");
        await Wait.UntilAsync("the compacted watch's answer", Generous, () => Task.FromResult(compacted.Stderr.Contains("compacted") || compacted.Responses.Count > 0), () => compacted.Stderr);
        Assert.Contains("required revision has been compacted", compacted.Stderr + string.Join("\n", compacted.Responses));
    }
}
