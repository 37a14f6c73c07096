using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.Wal;

namespace Raft.Shell.Tests.Wal;

// Inside the namespace: Google.Protobuf 3.36 (dotnet-etcd's) has a global namespace Pb that would hide Core's Pb.
using Pb = Raft.Core.Pb;

/// <summary>Small builders shared by the WAL tests.</summary>
internal static class WalTestKit
{
    public static readonly byte[] Meta = new WalMetadata(1, 2).Marshal();

    public static Entry Ent(ulong index, ulong term = 1, int size = 16) =>
        new(term, index, EntryType.EntryNormal, Enumerable.Range(0, size).Select(i => (byte)(index * 31 + (ulong)i)).ToArray());

    public static Entry[] Ents(ulong from, ulong to, ulong term = 1, int size = 16) =>
        Enumerable.Range((int)from, (int)(to - from + 1)).Select(i => Ent((ulong)i, term, size)).ToArray();

    public static ConfState Voters(params ulong[] ids) =>
        new(Microsoft.FSharp.Collections.ListModule.OfSeq(ids), Pb.emptyConfState.Learners, Pb.emptyConfState.VotersOutgoing,
            Pb.emptyConfState.LearnersNext, false);

    public static WalOptions Small(long segment = 16 * 1024) => new() { SegmentSizeBytes = segment };

    /// <summary>Every record of the WAL in <paramref name="dir"/>, read without locks.</summary>
    public static List<WalRecord> Records(string dir)
    {
        using var r = WalReader.Open(dir);
        var list = new List<WalRecord>();
        while (r.TryRead(out var rec)) list.Add(rec!);
        Assert.Null(r.TornFile);
        return list;
    }

    /// <summary>Copies the directory <paramref name="from"/> to <paramref name="to"/>; returns <paramref name="to"/>.</summary>
    public static string Copy(string from, string to)
    {
        foreach (var d in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(d.Replace(from, to));
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(f, f.Replace(from, to));
        return to;
    }

    public static WalContents Reopen(string dir, WalSnapshot? snap = null, WalOptions? options = null)
    {
        using var w = Raft.Shell.Wal.Wal.Open(dir, snap ?? WalSnapshot.Empty, options);
        return w.ReadAll();
    }

    public static void AssertEntries(IEnumerable<Entry> expected, IEnumerable<Entry> actual) =>
        Assert.Equal(expected.Select(e => (e.Index, e.Term, Convert.ToHexString(e.Data))),
            actual.Select(e => (e.Index, e.Term, Convert.ToHexString(e.Data))));
}
