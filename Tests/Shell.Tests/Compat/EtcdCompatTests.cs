using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using Google.Protobuf;
using Raft.Interop.Wire;
using Raft.Shell.Snap;
using Raft.Shell.Storage;
using Raft.Shell.Tests.Storage;
using Raft.Shell.Wal;

namespace Raft.Shell.Tests.Compat;

/// <summary>
/// A WAL written by a real etcd reads here: every CRC verifies, every record re-encodes to the
/// bytes etcd wrote, every key written through etcd's API appears in some entry, and the restart
/// read (with etcd's own snap files) recovers it.
/// </summary>
[Collection(ProcessCollection.Name)]
public class EtcdCompatTests
{
    private const int Keys = 1000;

    private static int FreePort() => FreePorts.OnLoopback();

    private static async Task RunEtcd(string dataDir, Func<HttpClient, Task> work)
    {
        Assert.True(EtcdBinary.Path is not null, "etcd is not on PATH (CI installs Debian's etcd-server)");
        var (client, peer) = (FreePort(), FreePort());
        var psi = new ProcessStartInfo(EtcdBinary.Path!)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[]
                 {
                     "--name", "compat", "--data-dir", dataDir,
                     "--listen-client-urls", $"http://127.0.0.1:{client}", "--advertise-client-urls", $"http://127.0.0.1:{client}",
                     "--listen-peer-urls", $"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{peer}",
                     "--initial-cluster", $"compat=http://127.0.0.1:{peer}",
                     // Small enough that etcd also writes snap files and WAL snapshot records.
                     "--snapshot-count", "300",
                 })
            psi.ArgumentList.Add(a);
        using var etcd = Process.Start(psi)!;
        using var reaper = ChildProcess.KillOnDispose(etcd);
        var log = new StringBuilder();
        etcd.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        etcd.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        etcd.BeginOutputReadLine();
        etcd.BeginErrorReadLine();

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{client}"), Timeout = TimeSpan.FromSeconds(10) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                var r = await http.GetAsync("/health");
                if (r.IsSuccessStatusCode) break;
            }
            catch (HttpRequestException)
            {
            }
            Assert.False(etcd.HasExited, $"etcd exited: {log}");
            Assert.True(DateTime.UtcNow < deadline, $"etcd did not become healthy: {log}");
            await Task.Delay(100);
        }
        await work(http);

        // Stop it the way an operator would (SIGTERM), and wait.
        using (var kill = Process.Start("kill", ["-TERM", etcd.Id.ToString()])) await kill.WaitForExitAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await etcd.WaitForExitAsync(cts.Token);
    }

    private static string Key(int i) => $"compat-key-{i:D5}";

    [EtcdFact]
    public async Task EtcdsWalReadsVerifiesAndReencodesByteForByte()
    {
        using var t = new TempDir();
        var data = t.Sub("etcd");
        await RunEtcd(data, async http =>
        {
            using var gate = new SemaphoreSlim(8);
            await Task.WhenAll(Enumerable.Range(0, Keys).Select(async i =>
            {
                await gate.WaitAsync();
                try
                {
                    var body = new
                    {
                        key = Convert.ToBase64String(Encoding.ASCII.GetBytes(Key(i))),
                        value = Convert.ToBase64String(Encoding.ASCII.GetBytes($"value-{i}")),
                    };
                    var r = await http.PostAsJsonAsync("/v3/kv/put", body);
                    Assert.True(r.IsSuccessStatusCode, $"put {i}: {r.StatusCode} {await r.Content.ReadAsStringAsync()}");
                }
                finally
                {
                    gate.Release();
                }
            }));
        });

        var walDir = NodeStorage.WalDir(data);
        var entries = new List<byte[]>();
        var counts = new Dictionary<long, int>();
        using (var reader = WalReader.Open(walDir))
        {
            while (reader.TryRead(out var rec))
            {
                counts[rec!.Type] = counts.GetValueOrDefault(rec.Type) + 1;
                var again = new Raft.Interop.Walpb.Record { Type = rec.Type, Crc = rec.Crc };
                if (rec.Data is not null) again.Data = ByteString.CopyFrom(rec.Data);
                Assert.Equal(rec.Raw.ToArray(), again.ToByteArray());
                var d = rec.Data ?? [];
                byte[] reencoded = rec.Type switch
                {
                    RecordType.Entry => RaftpbMarshal.Marshal(RaftpbMarshal.UnmarshalEntry(d)),
                    RecordType.State => RaftpbMarshal.Marshal(RaftpbMarshal.UnmarshalHardState(d)),
                    RecordType.Snapshot => WalSnapshot.Unmarshal(d).Marshal(),
                    RecordType.Metadata => WalMetadata.Unmarshal(d).Marshal(),
                    _ => d,
                };
                Assert.True(d.AsSpan().SequenceEqual(reencoded), $"{RecordType.Name(rec.Type)} record at {rec.File}:{rec.Offset} re-encodes differently");
                if (rec.Type == RecordType.Entry)
                {
                    var e = RaftpbMarshal.UnmarshalEntry(d);
                    entries.Add(e.Data);
                    if (e.Type.IsEntryConfChange)
                        Assert.Equal(e.Data, RaftpbMarshal.Marshal(RaftpbMarshal.UnmarshalConfChange(e.Data)));
                }
            }
            Assert.Null(reader.TornFile);
        }
        Assert.True(counts.GetValueOrDefault(RecordType.Snapshot) >= 2, "etcd wrote no snapshot record past the first");
        for (var i = 0; i < Keys; i++)
        {
            var key = Encoding.ASCII.GetBytes(Key(i));
            Assert.True(entries.Any(e => e.AsSpan().IndexOf(key) >= 0), $"{Key(i)} is in no entry");
        }

        // `raft wal dump` prints etcd's log.
        var dump = new StringWriter();
        Assert.Equal(0, Raft.Cli.WalDumpCommand.Run(data, verify: false, dump, TextWriter.Null));
        Assert.Contains("EntryConfChange", dump.ToString());
        Assert.Contains(Key(Keys - 1), dump.ToString());

        // etcd's own snap files read, and the restart read opens its log at the newest one.
        Assert.NotNull(new Snapshotter(NodeStorage.SnapDir(data)).Load());
        var (storage, st) = NodeStorage.Restart(data);
        storage.Close();
        Assert.False(Raft.Core.Pb.isEmptySnap(st.Snapshot));
        Assert.NotEqual(0UL, st.Metadata.NodeId);
        Assert.NotEqual(0UL, st.Metadata.ClusterId);
        Assert.True(st.HardState.Commit >= st.Snapshot.Metadata.Index);
        Assert.Equal(st.Snapshot.Metadata.Index + 1, st.Entries[0].Index);
    }
}
