using Google.Protobuf;
using Core = Raft.Core;

namespace Raft.Interop.Wire;

/// <summary>
/// A WAL snapshot record (walpb.Snapshot): the log position a snapshot covers, and since etcd 3.5
/// its membership. The initial record of a new WAL is index 0, term 0, without a ConfState.
/// </summary>
/// <param name="Index">Index of the last entry the snapshot covers.</param>
/// <param name="Term">Term of that entry.</param>
/// <param name="ConfState">Membership at that index; null when absent (initial record, etcd before 3.5).</param>
public sealed record WalSnapshot(ulong Index, ulong Term, Core.ConfState? ConfState)
{
    /// <summary>The position to open a WAL at when there is no snapshot.</summary>
    public static WalSnapshot Empty { get; } = new(0, 0, null);

    /// <summary>The WAL record for a raft snapshot: its index, term and conf state.</summary>
    public static WalSnapshot Of(Core.Snapshot snap) =>
        new(snap.Metadata.Index, snap.Metadata.Term, snap.Metadata.ConfState);

    /// <summary>The record's payload bytes: index and term always, conf_state only when present.</summary>
    public byte[] Marshal()
    {
        var p = new Walpb.Snapshot { Index = Index, Term = Term };
        if (ConfState is not null) p.ConfState = RaftpbConvert.ToProto(ConfState);
        return p.ToByteArray();
    }

    /// <summary>Decodes a snapshot record's payload.</summary>
    /// <exception cref="WireFormatException">The bytes are not a walpb.Snapshot.</exception>
    public static WalSnapshot Unmarshal(ReadOnlySpan<byte> data)
    {
        var p = RaftpbMarshal.Parse(Walpb.Snapshot.Parser, data, "walpb.Snapshot");
        return new WalSnapshot(p.Index, p.Term, p.ConfState is null ? null : RaftpbConvert.ToCore(p.ConfState));
    }

    /// <summary>True when both name the same log position (index and term); the conf state is not compared.</summary>
    public bool SamePosition(WalSnapshot other) => Index == other.Index && Term == other.Term;
}
