using System.CommandLine;
using System.Text;
using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell;
using Raft.Shell.Snap;
using Raft.Shell.Storage;
using Raft.Shell.Wal;

namespace Raft.Cli;

/// <summary>
/// <c>raft wal dump DIR [--verify]</c>: our etcd-dump-logs. Prints every record of a WAL (a
/// member's data directory or a WAL directory): metadata, snapshot records, hard states, and
/// entries with index, term, type, size and a short preview. With --verify it only checks every
/// CRC. Exit codes: 0 fine, 1 corrupt (file and offset printed), 3 torn tail (a restart repairs it).
/// </summary>
public static class WalDumpCommand
{
    /// <summary>The <c>wal</c> command with its <c>dump</c> subcommand.</summary>
    public static Command Create()
    {
        var dir = new Argument<string>("dir") { Description = "A member's data directory (with member/wal) or a WAL directory" };
        var verify = new Option<bool>("--verify") { Description = "Check every record's CRC and print only the result" };
        var dump = new Command("dump", "Print the records of a WAL (like etcd-dump-logs)") { dir, verify };
        dump.SetAction(r => Run(r.GetValue(dir)!, r.GetValue(verify), r.InvocationConfiguration.Output, r.InvocationConfiguration.Error));
        return new Command("wal", "Inspect an etcd-format write-ahead log") { dump };
    }

    /// <summary>Dumps or verifies the WAL at <paramref name="dir"/>; returns the exit code.</summary>
    public static int Run(string dir, bool verify, TextWriter output, TextWriter error)
    {
        var walDir = Directory.Exists(NodeStorage.WalDir(dir)) ? NodeStorage.WalDir(dir) : dir;
        var snapDir = NodeStorage.SnapDir(dir);
        if (!verify && Directory.Exists(snapDir))
        {
            var snap = new Snapshotter(snapDir).Load();
            output.WriteLine("Snapshot:");
            output.WriteLine(snap is null ? "empty" : $"term={snap.Metadata.Term} index={snap.Metadata.Index} {Conf(snap.Metadata.ConfState)} data={snap.Data.Length} bytes");
        }
        var (records, entries, segments) = (0, 0, 0);
        var state = CoreAdapter.EmptyHardState;
        string? lastFile = null;
        try
        {
            using var reader = WalReader.Open(walDir);
            while (reader.TryRead(out var rec))
            {
                records++;
                if (rec!.File != lastFile)
                {
                    segments++;
                    lastFile = rec.File;
                    if (!verify) output.WriteLine($"segment {Path.GetFileName(rec.File)}");
                }
                if (rec.Type == RecordType.Entry) entries++;
                if (rec.Type == RecordType.State) state = RaftpbMarshal.UnmarshalHardState(rec.Data ?? []);
                if (!verify) output.WriteLine($"{rec.Offset,10}  {RecordType.Name(rec.Type),-8}  {Describe(rec)}");
            }
            var summary = $"{records} records ({entries} entries) in {segments} segments; last hard state term={state.Term} vote={state.Vote:x} commit={state.Commit}";
            if (reader.TornFile is not null)
            {
                error.WriteLine($"torn write at {reader.TornFile} offset {reader.TornOffset}: the records after it are not whole (a restart repairs this)");
                output.WriteLine(summary);
                return 3;
            }
            output.WriteLine(verify ? $"OK: {summary}" : summary);
            return 0;
        }
        catch (WalException ex)
        {
            error.WriteLine(ex.File is not null && ex.Offset is not null
                ? $"{ex.Kind} in {ex.File} at offset {ex.Offset}: {ex.Message}"
                : $"{ex.Kind}: {ex.Message}");
            return 1;
        }
        catch (WireFormatException ex)
        {
            error.WriteLine($"undecodable record after {records} good ones: {ex.Message}");
            return 1;
        }
    }

    private static string Describe(WalRecord rec)
    {
        var d = rec.Data ?? [];
        switch (rec.Type)
        {
            case RecordType.Crc:
                return $"crc={rec.Crc:x8}";
            case RecordType.Metadata:
                var m = WalMetadata.Unmarshal(d);
                return $"nodeID={m.NodeId:x} clusterID={m.ClusterId:x}";
            case RecordType.State:
                var hs = RaftpbMarshal.UnmarshalHardState(d);
                return $"term={hs.Term} vote={hs.Vote:x} commit={hs.Commit}";
            case RecordType.Snapshot:
                var s = WalSnapshot.Unmarshal(d);
                return $"index={s.Index} term={s.Term}" + (s.ConfState is null ? "" : " " + Conf(s.ConfState));
            case RecordType.Entry:
                var e = RaftpbMarshal.UnmarshalEntry(d);
                var head = $"index={e.Index} term={e.Term} {CoreAdapter.EntryTypeName(e.Type)} size={e.Data.Length}";
                return CoreAdapter.DescribeConfChanges(e) is { } changes
                    ? $"{head} {changes}"
                    : e.Data.Length == 0 ? head : $"{head} {Preview(e.Data)}";
            default:
                return $"size={d.Length}";
        }
    }

    private static string Conf(ConfState cs) =>
        $"voters=[{string.Join(",", cs.Voters.Select(v => v.ToString("x")))}] learners=[{string.Join(",", cs.Learners.Select(v => v.ToString("x")))}]";

    // Up to 32 bytes, printable ASCII as is and the rest escaped.
    private static string Preview(byte[] data)
    {
        var sb = new StringBuilder("\"");
        foreach (var b in data.Take(32))
            sb.Append(b is >= 0x20 and < 0x7f and not (byte)'"' and not (byte)'\\' ? ((char)b).ToString() : $"\\x{b:x2}");
        sb.Append('"');
        if (data.Length > 32) sb.Append("...");
        return sb.ToString();
    }
}
