using FsCheck.Fluent;
using Raft.Core;
using Raft.Interop.Wire;
using Proto = Raft.Interop.Raftpb;

namespace Raft.Shell.Tests.Wire;

// Inside the namespace: Google.Protobuf 3.36 (dotnet-etcd's) has a global namespace Pb that would hide Core's Pb.
using Pb = Raft.Core.Pb;

/// <summary>
/// Round trips through the protobuf bytes, and agreement with Core's own encoder and etcd's Size().
/// Each property is paired with a deliberately broken conversion that it must catch.
/// </summary>
public class RaftpbRoundTripTests
{
    [Fact]
    public void EntryRoundTrips()
    {
        PropertyAssert.Holds(WireGen.Entries, e => RaftpbMarshal.UnmarshalEntry(RaftpbMarshal.Marshal(e)).Equals(e));
        // Broken: a marshaller that forgets the entry type.
        PropertyAssert.Fails(WireGen.Entries, e =>
        {
            var p = RaftpbConvert.ToProto(e);
            p.ClearType();
            return RaftpbMarshal.UnmarshalEntry(Google.Protobuf.MessageExtensions.ToByteArray(p)).Equals(e);
        });
    }

    [Fact]
    public void EntrySizeIsEtcds()
    {
        // Core.Codec.entrySize is etcd's Entry.Size(): zero scalars count, empty data does not.
        PropertyAssert.Holds(WireGen.Entries, e => RaftpbMarshal.Marshal(e).Length == Codec.entrySize(e));
        // Broken: proto3-style encoding that leaves zero scalars out.
        PropertyAssert.Fails(WireGen.Entries, e =>
        {
            var p = new Proto.Entry();
            if (e.Term != 0) p.Term = e.Term;
            if (e.Index != 0) p.Index = e.Index;
            if (Pb.entryTypeNumber(e.Type) != 0) p.Type = (Proto.EntryType)Pb.entryTypeNumber(e.Type);
            if (e.Data.Length > 0) p.Data = Google.Protobuf.ByteString.CopyFrom(e.Data);
            return Google.Protobuf.MessageExtensions.ToByteArray(p).Length == Codec.entrySize(e);
        });
    }

    [Fact]
    public void HardStateRoundTrips()
    {
        PropertyAssert.Holds(WireGen.HardStates, hs => RaftpbMarshal.UnmarshalHardState(RaftpbMarshal.Marshal(hs)).Equals(hs));
        // Broken: vote and commit swapped on the way back.
        PropertyAssert.Fails(WireGen.HardStates, hs =>
        {
            var back = RaftpbMarshal.UnmarshalHardState(RaftpbMarshal.Marshal(hs));
            return new HardState(back.Term, back.Commit, back.Vote).Equals(hs);
        });
    }

    [Fact]
    public void ConfStateRoundTrips()
    {
        PropertyAssert.Holds(WireGen.ConfStates, cs => RaftpbMarshal.UnmarshalConfState(RaftpbMarshal.Marshal(cs)).Equals(cs));
        // Broken: learners_next dropped.
        PropertyAssert.Fails(WireGen.ConfStates, cs =>
        {
            var p = RaftpbConvert.ToProto(cs);
            p.LearnersNext.Clear();
            return RaftpbConvert.ToCore(p).Equals(cs);
        });
    }

    [Fact]
    public void SnapshotRoundTrips()
    {
        PropertyAssert.Holds(WireGen.Snapshots, s => RaftpbMarshal.UnmarshalSnapshot(RaftpbMarshal.Marshal(s)).Equals(s));
        // Broken: metadata left out when the snapshot looks empty (index 0).
        PropertyAssert.Fails(WireGen.Snapshots, s =>
        {
            var p = RaftpbConvert.ToProto(s);
            if (s.Metadata.Index == 0) p.Metadata = null;
            return RaftpbMarshal.UnmarshalSnapshot(Google.Protobuf.MessageExtensions.ToByteArray(p)).Equals(s);
        });
    }

    [Fact]
    public void MessageRoundTrips()
    {
        PropertyAssert.Holds(WireGen.Messages, m => RaftpbMarshal.UnmarshalMessage(RaftpbMarshal.Marshal(m)).Equals(m));
        // Broken: context lost.
        PropertyAssert.Fails(WireGen.Messages, m =>
        {
            var p = RaftpbConvert.ToProto(m);
            p.ClearContext();
            return RaftpbConvert.ToCore(p).Equals(m);
        });
    }

    [Fact]
    public void MessagesWithTheEmptySnapshotOrOneFieldAwayRoundTrip()
    {
        // The empty snapshot has a shared protobuf form; one field away from it must not be taken for it.
        static Microsoft.FSharp.Collections.FSharpList<ulong> Ids(params ulong[] ids) => Microsoft.FSharp.Collections.ListModule.OfSeq(ids);
        var none = Ids();
        var empty = Pb.emptySnapshot;
        Snapshot[] snapshots =
        [
            empty,
            new([1], empty.Metadata),
            new([], new SnapshotMetadata(empty.Metadata.ConfState, 1, 0)),
            new([], new SnapshotMetadata(empty.Metadata.ConfState, 0, 1)),
            new([], new SnapshotMetadata(new ConfState(Ids(1), none, none, none, false), 0, 0)),
            new([], new SnapshotMetadata(new ConfState(none, Ids(2), none, none, false), 0, 0)),
            new([], new SnapshotMetadata(new ConfState(none, none, Ids(3), none, false), 0, 0)),
            new([], new SnapshotMetadata(new ConfState(none, none, none, Ids(4), false), 0, 0)),
            new([], new SnapshotMetadata(new ConfState(none, none, none, none, true), 0, 0)),
        ];
        foreach (var snap in snapshots)
        {
            var m = new Message(MessageType.MsgApp, 2, 1, 5, 4, 10, [], 9, snap, false, 0, []);
            var bytes = RaftpbMarshal.Marshal(m);
            Assert.Equal(m, RaftpbMarshal.UnmarshalMessage(bytes));
            // The same bytes as the protobuf form built field by field.
            var p = RaftpbConvert.ToProto(m);
            p.Snapshot = RaftpbConvert.ToProto(snap);
            Assert.Equal(Google.Protobuf.MessageExtensions.ToByteArray(p), bytes);
        }
    }

    [Fact]
    public void ConfChangeMatchesCoreCodec()
    {
        PropertyAssert.Holds(WireGen.ConfChanges, cc =>
            RaftpbMarshal.Marshal(cc).AsSpan().SequenceEqual(Codec.marshalConfChange(cc))
            && RaftpbMarshal.UnmarshalConfChange(RaftpbMarshal.Marshal(cc)).Equals(cc));
        // Broken: id and node id swapped.
        PropertyAssert.Fails(WireGen.ConfChanges, cc =>
            RaftpbMarshal.Marshal(new ConfChange(cc.NodeID, cc.Type, cc.ID, cc.Context)).AsSpan().SequenceEqual(Codec.marshalConfChange(cc)));
    }

    [Fact]
    public void ConfChangeV2MatchesCoreCodec()
    {
        PropertyAssert.Holds(WireGen.ConfChangeV2s, cc =>
            RaftpbMarshal.Marshal(cc).AsSpan().SequenceEqual(Codec.marshalConfChangeV2(cc))
            && RaftpbMarshal.UnmarshalConfChangeV2(RaftpbMarshal.Marshal(cc)).Equals(cc));
        // Broken: the changes reversed.
        PropertyAssert.Fails(WireGen.ConfChangeV2s, cc =>
        {
            var p = RaftpbConvert.ToProto(cc);
            var rev = p.Changes.Reverse().ToList();
            p.Changes.Clear();
            p.Changes.AddRange(rev);
            return RaftpbConvert.ToCore(p).Equals(cc);
        });
    }

    [Fact]
    public void WalSnapshotRoundTrips()
    {
        var gen = from i in WireGen.U64 from t in WireGen.U64 from cs in WireGen.ConfStates from has in WireGen.Bool
                  select new WalSnapshot(i, t, has ? cs : null);
        PropertyAssert.Holds(gen, s => WalSnapshot.Unmarshal(s.Marshal()).Equals(s));
        // Broken: an absent conf state written as an empty one.
        PropertyAssert.Fails(gen, s => WalSnapshot.Unmarshal((s with { ConfState = s.ConfState ?? Pb.emptyConfState }).Marshal()).Equals(s));
    }
}
