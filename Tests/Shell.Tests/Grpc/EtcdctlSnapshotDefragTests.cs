using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Raft.Kv.Backend;
using Raft.Kv.Mvcc;
using Raft.Shell.Tests.EndToEnd;
using Raft.Shell.Tests.Storage;

namespace Raft.Shell.Tests.Grpc;

/// <summary>
/// etcdctl 3.4's <c>snapshot save</c> and <c>defrag</c> against one <c>raft serve</c> process: the
/// saved file passes etcdctl's own checksum checks and restores (with our backend) to the keys
/// written; <c>snapshot status</c> cannot read it (it expects a bbolt file); deleting, compacting
/// and defragmenting shrinks the size <c>endpoint status</c> reports.
/// </summary>
[Collection(ProcessCollection.Name)]
public class EtcdctlSnapshotDefragTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);
    private const int Keys = 100;
    private const int ValueBytes = 64 * 1024;

    private static string Value(int i) => new((char)('a' + i % 26), ValueBytes);

    private static async Task<JsonNode> StatusAsync(Member m) =>
        (await Etcdctl.OkAsync([m.ClientUrl], "endpoint", "status", "-w", "json")).Json.AsArray().Single()!["Status"]!;

    private static async Task<(int Exit, string Out, string Err)> RestoreAsync(params string[] args)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        var root = new System.CommandLine.RootCommand { Raft.Cli.SnapshotRestoreCommand.Create() };
        var exit = await root.Parse(args).InvokeAsync(new System.CommandLine.InvocationConfiguration { Output = o, Error = e });
        return (exit, o.ToString(), e.ToString());
    }

    [Fact]
    public async Task SnapshotSaveRestoresTheKeysAndDefragShrinksTheStore()
    {
        Etcdctl.Require();
        using var cluster = new ProcessCluster(1, "--heartbeat-interval", "20", "--election-timeout", "200");
        var m = await EtcdctlSingleMemberTests.StartAsync(cluster);
        string[] at = [m.ClientUrl];
        for (var i = 0; i < Keys; i++)
            Assert.True(await m.Client.PutAsync($"big/{i:D3}", Value(i)) is { Ok: true }, $"put big/{i:D3}");

        // snapshot save: etcdctl itself refuses a stream without the trailer or of a length that is
        // not whole 512-byte sectors plus the digest.
        using var dir = new TempDir();
        var file = Path.Combine(dir.Path, "snap.db");
        var save = await Etcdctl.OkAsync(at, "snapshot", "save", file);
        Assert.Contains("Snapshot saved at " + file, save.Stdout + save.Stderr);
        var bytes = await File.ReadAllBytesAsync(file);
        Assert.Equal(32, bytes.Length % 512);
        Assert.Equal(SHA256.HashData(bytes.AsSpan(0, bytes.Length - 32)), bytes[^32..]);

        // The gateway's stream of the same state: JSON lines of base64 chunks, the digest last.
        var gatewayStream = await m.Client.PostAsync("/v3/maintenance/snapshot", "{}");
        Assert.True(gatewayStream is { Ok: true }, $"gateway snapshot: {gatewayStream}");
        var blobs = gatewayStream!.Body.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonNode.Parse(l)!["result"]!)
            .Select(r => (Remaining: Etcdctl.Int64(r["remaining_bytes"]), Blob: Convert.FromBase64String(r["blob"]?.GetValue<string>() ?? ""))).ToList();
        var gatewayData = blobs.SkipLast(1).SelectMany(b => b.Blob).ToArray();
        Assert.Equal(SHA256.HashData(gatewayData), blobs[^1].Blob);
        Assert.Equal(0, blobs[^2].Remaining);
        Assert.Equal(gatewayData.Length - blobs[0].Blob.Length, blobs[0].Remaining);
        Assert.Equal(bytes.Length - 32, gatewayData.Length);

        // The file is our checkpoint, not a bbolt file: etcdctl's snapshot status cannot open it.
        var status = await Etcdctl.RunAsync(at, "snapshot", "status", file, "-w", "json");
        Assert.False(status.Ok, "etcdctl read our snapshot as a bbolt file; README's Snapshot section says it cannot: " + status);

        // Our backend restores it (padding and all) to exactly the keys written.
        var restored = Path.Combine(dir.Path, "restored");
        await using (var data = new MemoryStream(bytes, 0, bytes.Length - 32))
            await KvBackends.RestoreAsync(restored, data, CancellationToken.None, zeroPadding: true);
        using (var store = new MvccStore(KvBackends.Open(restored)))
        {
            using var read = store.Read();
            var kvs = read.Range(Encoding.UTF8.GetBytes("big/"), Encoding.UTF8.GetBytes("big0")).Kvs;
            Assert.Equal(Enumerable.Range(0, Keys).Select(i => $"big/{i:D3}"), kvs.Select(kv => Encoding.UTF8.GetString(kv.Key.Span)));
            Assert.All(kvs.Select((kv, i) => (kv, i)), x => Assert.Equal(Value(x.i), Encoding.UTF8.GetString(x.kv.Value.Span)));
        }

        // raft snapshot restore: three new members from the file, one cluster that serves the keys.
        using (var restoredCluster = new ProcessCluster(3, "--heartbeat-interval", "20", "--election-timeout", "200"))
        {
            foreach (var r in restoredCluster.Members)
            {
                var (exit, stdout, stderr) = await RestoreAsync("snapshot", "restore", file, "--name", r.Name, "--data-dir", r.DataDir,
                    "--initial-advertise-peer-urls", r.PeerUrl, "--initial-cluster", r.InitialCluster!, "--initial-cluster-token", r.Token);
                Assert.True(exit == 0, $"raft snapshot restore for {r.Name} exited {exit}: {stdout}{stderr}");
            }
            var r1 = await EtcdctlSingleMemberTests.StartAsync(restoredCluster);
            foreach (var r in restoredCluster.Members)
            {
                var got = await Etcdctl.OkAsync([r.ClientUrl], "get", "big/", "--prefix", "--keys-only");
                Assert.Equal(Enumerable.Range(0, Keys).Select(i => $"big/{i:D3}"), got.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            }
            Assert.Equal(Value(42), (await Etcdctl.OkAsync([r1.ClientUrl], "get", "big/042", "--print-value-only")).Stdout.TrimEnd('\n'));
            await Etcdctl.OkAsync(restoredCluster.Members.Select(r => r.ClientUrl), "put", "restored", "yes");
            var members = (await Etcdctl.OkAsync([r1.ClientUrl], "member", "list", "-w", "json")).Json["members"]!.AsArray();
            Assert.Equal(restoredCluster.Members.Select(r => r.Id).Order(), members.Select(x => ulong.Parse(x!["ID"]!.ToJsonString())).Order());
        }
        // A damaged file is refused, and no data directory is left to start from.
        bytes[100] ^= 1;
        var damaged = Path.Combine(dir.Path, "damaged.db");
        await File.WriteAllBytesAsync(damaged, bytes);
        bytes[100] ^= 1;
        var refusedDir = Path.Combine(dir.Path, "refused");
        var refused = await RestoreAsync("snapshot", "restore", damaged, "--data-dir", refusedDir);
        Assert.True(refused.Exit == 1 && refused.Err.Contains("SHA-256"), $"{refused}");
        Assert.False(Directory.Exists(refusedDir));

        // Delete, compact: the file keeps its size (LMDB reuses free pages, it never shrinks the file),
        // the size in use drops; defrag brings the file down to about what is in use.
        var full = await StatusAsync(m);
        var sizeFull = Etcdctl.Int64(full["dbSize"]);
        Assert.True(sizeFull > Keys * ValueBytes, $"db size {sizeFull} after {Keys} values of {ValueBytes} bytes");
        Assert.InRange(Etcdctl.Int64(full["dbSizeInUse"]), 1, sizeFull);
        await Etcdctl.OkAsync(at, "del", "big/", "--prefix");
        var revision = Etcdctl.Int64((await Etcdctl.OkAsync(at, "get", "x", "-w", "json")).Json["header"]!["revision"]);
        await Etcdctl.OkAsync(at, "compaction", revision.ToString(), "--physical");
        await Wait.UntilAsync("the size in use to drop after the compaction", Generous,
            async () => Etcdctl.Int64((await StatusAsync(m))["dbSizeInUse"]) < sizeFull / 4, cluster.Diagnostics);
        Assert.True(Etcdctl.Int64((await StatusAsync(m))["dbSize"]) >= sizeFull, "LMDB's file shrank without a defrag");

        var defrag = await Etcdctl.OkAsync(at, "defrag");
        Assert.Contains("Finished defragmenting etcd member[" + m.ClientUrl + "]", defrag.Stdout);
        var after = await StatusAsync(m);
        output.WriteLine($"db size {sizeFull} bytes with the values, {Etcdctl.Int64(after["dbSize"])} after delete, compaction and defrag (in use {Etcdctl.Int64(after["dbSizeInUse"])}); snapshot file {bytes.Length} bytes");
        Assert.True(Etcdctl.Int64(after["dbSize"]) < sizeFull / 4, $"db size {Etcdctl.Int64(after["dbSize"])} after defrag, {sizeFull} before");
        Assert.InRange(Etcdctl.Int64(after["dbSizeInUse"]), 1, Etcdctl.Int64(after["dbSize"]));

        // The store works on the new file: a write, and a read of it.
        await Etcdctl.OkAsync(at, "put", "after-defrag", "v");
        Assert.Equal("v", (await Etcdctl.OkAsync(at, "get", "after-defrag", "--print-value-only")).Stdout.Trim());
        var gw = await m.Client.PostAsync("/v3/maintenance/defragment", "{}");
        Assert.True(gw is { Ok: true }, $"gateway defragment: {gw}");
        Assert.Equal("v", await m.Client.GetValueAsync("after-defrag"));
    }
}
