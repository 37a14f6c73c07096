using Raft.Cli;
using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.Storage;
using Raft.Shell.Wal;
using static Raft.Shell.Tests.Wal.WalTestKit;

namespace Raft.Shell.Tests.Cli;

public class WalDumpCommandTests
{
    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        var root = new System.CommandLine.RootCommand { WalDumpCommand.Create() };
        var exit = root.Parse(args).Invoke(new System.CommandLine.InvocationConfiguration { Output = o, Error = e });
        return (exit, o.ToString(), e.ToString());
    }

    private static string Make(TempDir t)
    {
        using var s = NodeStorage.Create(t.Path, new WalMetadata(0xabc, 0xdef), Small());
        s.Save(new HardState(1, 0xabc, 1), [new Entry(1, 1, EntryType.EntryConfChange,
            RaftpbMarshal.Marshal(new ConfChange(1, ConfChangeType.ConfChangeAddNode, 0xabc, [])))]);
        s.Save(new HardState(1, 0xabc, 2), [new Entry(1, 2, EntryType.EntryNormal, "hello \"world\"\n"u8.ToArray())]);
        return t.Path;
    }

    [Fact]
    public void DumpPrintsEveryRecord()
    {
        using var t = new TempDir();
        var (exit, output, err) = Run("wal", "dump", Make(t));
        Assert.Equal(0, exit);
        Assert.Equal("", err);
        Assert.Contains("nodeID=abc clusterID=def", output);
        Assert.Contains("index=1 term=1 EntryConfChange size=7 ConfChangeAddNode(abc)", output);
        Assert.Contains("index=2 term=1 EntryNormal size=14 \"hello \\x22world\\x22\\x0a\"", output);
        Assert.Contains("state     term=1 vote=abc commit=2", output);
        Assert.Contains("7 records (2 entries) in 1 segments", output);
    }

    [Fact]
    public void VerifyNamesTheFileAndOffsetOfACrcFailure()
    {
        using var t = new TempDir();
        Make(t);
        Assert.Equal(0, Run("wal", "dump", t.Path, "--verify").Exit);
        var recs = Records(NodeStorage.WalDir(t.Path));
        var victim = recs.First(r => r.Type == RecordType.Entry);
        var bytes = File.ReadAllBytes(victim.File);
        bytes[victim.Offset + 8 + victim.Raw.Length - 1] ^= 0x40; // flip a bit in the entry's data
        File.WriteAllBytes(victim.File, bytes);
        var (exit, _, err) = Run("wal", "dump", NodeStorage.WalDir(t.Path), "--verify");
        Assert.Equal(1, exit);
        Assert.Contains($"CrcMismatch in {victim.File} at offset {victim.Offset}", err);
    }

    [Fact]
    public void VerifyReportsATornTailApart()
    {
        using var t = new TempDir();
        Make(t);
        var last = Records(NodeStorage.WalDir(t.Path))[^1];
        using (var fs = new FileStream(last.File, FileMode.Open)) fs.SetLength(last.Offset + 12);
        var (exit, _, err) = Run("wal", "dump", t.Path, "--verify");
        Assert.Equal(3, exit);
        Assert.Contains($"torn write at {last.File} offset {last.Offset}", err);
    }
}
