using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.Storage;
using Raft.Shell.Wal;

namespace Raft.Shell.Tests.Storage;

/// <summary>
/// Real processes: a child saves batches and reports each one after Save returns; it is killed
/// with SIGKILL at random moments. Every reported batch must be there after the restart read, and
/// the WAL must read cleanly to its end. Another process cannot open a WAL that is open.
/// </summary>
[Collection(ProcessCollection.Name)]
public class CrashTests
{
    private static byte[] Payload(ulong index) => Enumerable.Range(0, 100).Select(i => (byte)(index * 7 + (ulong)i)).ToArray();

    [Fact]
    public void ReportedBatchesSurviveSigkill()
    {
        const int cycles = 50;
        using var t = new TempDir();
        var rng = new Random(20240611);
        ulong reported = 0;
        var repairs = 0;
        for (var cycle = 0; cycle < cycles; cycle++)
        {
            // Small segments, so that kills also land around segment cuts.
            using var child = ChildProcess.Start("save", t.Path, (64 * 1024).ToString(), rng.Next().ToString());
            using var reaper = ChildProcess.KillOnDispose(child);
            using var started = new ManualResetEventSlim();
            string? start = null;
            long last = 0;
            child.OutputDataReceived += (_, e) =>
            {
                // The child's console may open with a byte-order mark.
                var line = e.Data?.TrimStart('\uFEFF');
                if (line is null) return;
                if (line.StartsWith("saved ", StringComparison.Ordinal)) Interlocked.Exchange(ref last, long.Parse(line[6..]));
                else if (line.StartsWith("start ", StringComparison.Ordinal))
                {
                    start = line;
                    started.Set();
                }
            };
            var errors = new System.Text.StringBuilder();
            child.ErrorDataReceived += (_, e) =>
            {
                lock (errors) errors.AppendLine(e.Data);
            };
            child.BeginOutputReadLine();
            child.BeginErrorReadLine();
            if (!started.Wait(60_000))
            {
                var exited = child.WaitForExit(1000);
                Assert.Fail($"cycle {cycle}: child did not start (exited: {exited}): {errors}");
            }
            // Whatever the child recovered covers everything it had reported before.
            Assert.True(ulong.Parse(start![6..]) >= reported, $"cycle {cycle}: restarted at {start}, {reported} was reported");
            Thread.Sleep(rng.Next(5, 150));
            child.Kill(); // SIGKILL
            child.WaitForExit(); // also drains what the child had written
            if (Interlocked.Read(ref last) > 0) reported = (ulong)Interlocked.Read(ref last);

            var (storage, st) = NodeStorage.Restart(t.Path);
            storage.Close();
            if (st.Repaired) repairs++;
            var ents = st.Entries;
            Assert.True(ents.Length > 0 || reported == 0);
            Assert.True(ents.Length == 0 || ents[^1].Index >= reported, $"cycle {cycle}: reported {reported}, recovered {ents.LastOrDefault()?.Index}");
            for (var i = 0; i < ents.Length; i++)
            {
                Assert.Equal((ulong)i + 1, ents[i].Index);
                Assert.Equal(Payload(ents[i].Index), ents[i].Data);
            }
            // The whole log verifies: every CRC, no torn tail left.
            using var r = WalReader.Open(NodeStorage.WalDir(t.Path));
            while (r.TryRead(out _)) { }
            Assert.Null(r.TornFile);
        }
        Assert.True(reported > 0);
        Assert.True(Directory.GetFiles(NodeStorage.WalDir(t.Path), "*.wal").Length > 1, "no segment was ever cut");
    }

    [Fact]
    public void AnotherProcessCannotOpenAnOpenWal()
    {
        using var t = new TempDir();
        var storage = NodeStorage.Create(t.Path, new WalMetadata(1, 1));
        storage.Save(new HardState(1, 1, 1), [new Entry(1, 1, EntryType.EntryNormal, [1])]);
        var (exit, output) = ChildProcess.Run("open", t.Path);
        Assert.Equal(3, exit);
        Assert.Contains("error Locked", output);
        storage.Close();
        (exit, output) = ChildProcess.Run("open", t.Path);
        Assert.Equal(0, exit);
        Assert.Contains("opened", output);
    }
}
