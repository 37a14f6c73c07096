using Google.Protobuf;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using Core = Raft.Core;
using Proto = Raft.Interop.Raftpb;

namespace Raft.Interop.Wire;

/// <summary>
/// Conversions between Core's F# raftpb values and the protobuf messages that carry them on the
/// wire and on disk. Going to protobuf, every field etcd declares non-nullable is set, so it is
/// written even when zero, and an empty byte array (Core's stand-in for etcd's nil) maps to an
/// absent bytes field. Coming back, an absent bytes field and an empty one both become an empty
/// array: Core does not keep the two apart.
/// </summary>
public static class RaftpbConvert
{
    // Core arrays are never mutated after construction, so wrapping avoids a copy per field.
    private static ByteString Wrap(byte[] bytes) => UnsafeByteOperations.UnsafeWrap(bytes);

    // The parser gives each bytes field an array of its own (and Wrap shares arrays that are values):
    // a ByteString over a whole array hands over that array instead of a copy of it.
    private static byte[] Bytes(bool has, ByteString value) =>
        !has || value.IsEmpty ? []
        : System.Runtime.InteropServices.MemoryMarshal.TryGetArray(value.Memory, out var s) && s.Offset == 0 && s.Count == s.Array!.Length ? s.Array
        : value.ToByteArray();

    private static T Known<T>(FSharpOption<T> value, string what, int number) =>
        FSharpOption<T>.get_IsSome(value) ? value.Value : throw new WireFormatException($"unknown {what} {number}");

    /// <summary>Entry to protobuf; empty data is left absent.</summary>
    public static Proto.Entry ToProto(Core.Entry e)
    {
        var p = new Proto.Entry { Type = (Proto.EntryType)Core.Pb.entryTypeNumber(e.Type), Term = e.Term, Index = e.Index };
        if (e.Data.Length > 0) p.Data = Wrap(e.Data);
        return p;
    }

    /// <summary>Entry from protobuf; absent or empty data becomes an empty array.</summary>
    /// <exception cref="WireFormatException">The entry type is not one etcd defines.</exception>
    public static Core.Entry ToCore(Proto.Entry p) =>
        new(p.Term, p.Index, Known(Core.Pb.entryTypeOfNumber((int)p.Type), "EntryType", (int)p.Type), Bytes(p.HasData, p.Data));

    /// <summary>HardState to protobuf; all three fields are always written.</summary>
    public static Proto.HardState ToProto(Core.HardState hs) => new() { Term = hs.Term, Vote = hs.Vote, Commit = hs.Commit };

    /// <summary>HardState from protobuf.</summary>
    public static Core.HardState ToCore(Proto.HardState p) => new(p.Term, p.Vote, p.Commit);

    /// <summary>ConfState to protobuf; auto_leave is always written, the id lists unpacked.</summary>
    public static Proto.ConfState ToProto(Core.ConfState cs)
    {
        var p = new Proto.ConfState { AutoLeave = cs.AutoLeave };
        p.Voters.AddRange(cs.Voters);
        p.Learners.AddRange(cs.Learners);
        p.VotersOutgoing.AddRange(cs.VotersOutgoing);
        p.LearnersNext.AddRange(cs.LearnersNext);
        return p;
    }

    /// <summary>ConfState from protobuf.</summary>
    public static Core.ConfState ToCore(Proto.ConfState p) =>
        new(ListModule.OfSeq(p.Voters), ListModule.OfSeq(p.Learners), ListModule.OfSeq(p.VotersOutgoing),
            ListModule.OfSeq(p.LearnersNext), p.AutoLeave);

    /// <summary>SnapshotMetadata to protobuf; conf_state, index and term are always written.</summary>
    public static Proto.SnapshotMetadata ToProto(Core.SnapshotMetadata m) =>
        new() { ConfState = ToProto(m.ConfState), Index = m.Index, Term = m.Term };

    /// <summary>SnapshotMetadata from protobuf; an absent conf_state is the empty one.</summary>
    public static Core.SnapshotMetadata ToCore(Proto.SnapshotMetadata p) =>
        new(p.ConfState is null ? Core.Pb.emptyConfState : ToCore(p.ConfState), p.Index, p.Term);

    /// <summary>Snapshot to protobuf; metadata is always written, empty data is left absent.</summary>
    public static Proto.Snapshot ToProto(Core.Snapshot s)
    {
        var p = new Proto.Snapshot { Metadata = ToProto(s.Metadata) };
        if (s.Data.Length > 0) p.Data = Wrap(s.Data);
        return p;
    }

    /// <summary>Snapshot from protobuf; absent or empty data becomes an empty array.</summary>
    public static Core.Snapshot ToCore(Proto.Snapshot p) =>
        new(Bytes(p.HasData, p.Data), p.Metadata is null ? Core.Pb.emptySnapshot.Metadata : ToCore(p.Metadata));

    /// <summary>
    /// Message to protobuf. Every scalar and the snapshot are always written (etcd's Message has a
    /// non-nullable snapshot); empty context is left absent.
    /// </summary>
    public static Proto.Message ToProto(Core.Message m)
    {
        // Nearly every message carries the empty snapshot: share one protobuf form of it (never
        // mutated; serializing only reads it) instead of building five objects per message.
        var snapshot = IsEmptySnapshot(m.Snapshot) ? EmptySnapshotProto : ToProto(m.Snapshot);
        var p = new Proto.Message
        {
            Type = (Proto.MessageType)Core.Pb.messageTypeNumber(m.Type),
            To = m.To,
            From = m.From,
            Term = m.Term,
            LogTerm = m.LogTerm,
            Index = m.Index,
            Commit = m.Commit,
            Snapshot = snapshot,
            Reject = m.Reject,
            RejectHint = m.RejectHint,
        };
        foreach (var e in m.Entries) p.Entries.Add(ToProto(e));
        if (m.Context.Length > 0) p.Context = Wrap(m.Context);
        return p;
    }

    /// <summary>Message from protobuf; absent or empty context becomes an empty array.</summary>
    /// <exception cref="WireFormatException">A message or entry type is not one etcd defines.</exception>
    public static Core.Message ToCore(Proto.Message p)
    {
        var entries = new Core.Entry[p.Entries.Count];
        for (var i = 0; i < entries.Length; i++) entries[i] = ToCore(p.Entries[i]);
        return new Core.Message(
            Known(Core.Pb.messageTypeOfNumber((int)p.Type), "MessageType", (int)p.Type),
            p.To, p.From, p.Term, p.LogTerm, p.Index, entries, p.Commit,
            p.Snapshot is null || IsEmpty(p.Snapshot) ? Core.Pb.emptySnapshot : ToCore(p.Snapshot),
            p.Reject, p.RejectHint, Bytes(p.HasContext, p.Context));
    }

    private static readonly Proto.Snapshot EmptySnapshotProto = ToProto(Core.Pb.emptySnapshot);

    // Equal to Pb.emptySnapshot (F#'s structural equality), so that it encodes to the same bytes.
    private static bool IsEmptySnapshot(Core.Snapshot s) =>
        ReferenceEquals(s, Core.Pb.emptySnapshot) || s.Equals(Core.Pb.emptySnapshot);

    // What ToCore would turn into Pb.emptySnapshot's equal: no data, zero index and term, an empty
    // (or absent) conf state.
    private static bool IsEmpty(Proto.Snapshot p) =>
        !p.HasData
        && (p.Metadata is null
            || (p.Metadata.Index == 0 && p.Metadata.Term == 0
                && (p.Metadata.ConfState is null
                    || (p.Metadata.ConfState.Voters.Count == 0 && p.Metadata.ConfState.Learners.Count == 0
                        && p.Metadata.ConfState.VotersOutgoing.Count == 0 && p.Metadata.ConfState.LearnersNext.Count == 0
                        && !p.Metadata.ConfState.AutoLeave))));

    /// <summary>ConfChange to protobuf; id, type and node_id are always written, empty context absent.</summary>
    public static Proto.ConfChange ToProto(Core.ConfChange cc)
    {
        var p = new Proto.ConfChange { Id = cc.ID, Type = (Proto.ConfChangeType)Core.Pb.confChangeTypeNumber(cc.Type), NodeId = cc.NodeID };
        if (cc.Context.Length > 0) p.Context = Wrap(cc.Context);
        return p;
    }

    /// <summary>ConfChange from protobuf.</summary>
    /// <exception cref="WireFormatException">The change type is not one etcd defines.</exception>
    public static Core.ConfChange ToCore(Proto.ConfChange p) =>
        new(p.Id, ChangeType(p.Type), p.NodeId, Bytes(p.HasContext, p.Context));

    /// <summary>ConfChangeSingle to protobuf; both fields always written.</summary>
    public static Proto.ConfChangeSingle ToProto(Core.ConfChangeSingle c) =>
        new() { Type = (Proto.ConfChangeType)Core.Pb.confChangeTypeNumber(c.Type), NodeId = c.NodeID };

    /// <summary>ConfChangeSingle from protobuf.</summary>
    /// <exception cref="WireFormatException">The change type is not one etcd defines.</exception>
    public static Core.ConfChangeSingle ToCore(Proto.ConfChangeSingle p) => new(ChangeType(p.Type), p.NodeId);

    /// <summary>ConfChangeV2 to protobuf; transition always written, empty context absent.</summary>
    public static Proto.ConfChangeV2 ToProto(Core.ConfChangeV2 cc)
    {
        var p = new Proto.ConfChangeV2 { Transition = (Proto.ConfChangeTransition)Core.Pb.confChangeTransitionNumber(cc.Transition) };
        foreach (var c in cc.Changes) p.Changes.Add(ToProto(c));
        if (cc.Context.Length > 0) p.Context = Wrap(cc.Context);
        return p;
    }

    /// <summary>ConfChangeV2 from protobuf.</summary>
    /// <exception cref="WireFormatException">The transition or a change type is not one etcd defines.</exception>
    public static Core.ConfChangeV2 ToCore(Proto.ConfChangeV2 p) =>
        new(Known(Core.Pb.confChangeTransitionOfNumber((int)p.Transition), "ConfChangeTransition", (int)p.Transition),
            ListModule.OfSeq(p.Changes.Select(ToCore)), Bytes(p.HasContext, p.Context));

    private static Core.ConfChangeType ChangeType(Proto.ConfChangeType t) =>
        Known(Core.Pb.confChangeTypeOfNumber((int)t), "ConfChangeType", (int)t);
}
