using Google.Protobuf;
using Microsoft.FSharp.Collections;
using Raft.Core;
using Raft.Interop.Wire;

namespace Raft.Shell.Tests.Wire;

// Inside the namespace: Google.Protobuf 3.36 (dotnet-etcd's) has a global namespace Pb that would hide Core's Pb.
using Pb = Raft.Core.Pb;

/// <summary>
/// Fixed encodings worked out from etcd's generated (gogoproto) marshallers: fields in number
/// order, every non-nullable scalar written even when zero, nil bytes absent.
/// </summary>
public class RaftpbVectorTests
{
    private static byte[] Hex(string s) => Convert.FromHexString(s.Replace(" ", ""));

    private static FSharpList<ulong> Ids(params ulong[] ids) => ListModule.OfSeq(ids);

    private static Message Msg(MessageType type, ulong to = 0, ulong from = 0, ulong term = 0, ulong logTerm = 0,
        ulong index = 0, Entry[]? entries = null, ulong commit = 0, bool reject = false, ulong rejectHint = 0,
        byte[]? context = null) =>
        new(type, to, from, term, logTerm, index, entries ?? [], commit, Pb.emptySnapshot, reject, rejectHint, context ?? []);

    // Snapshot{} : metadata{conf_state{auto_leave=false}, index=0, term=0}
    private const string EmptySnapshot = "12 08 0a 02 28 00 10 00 18 00";

    [Fact]
    public void EntryWithoutDataWritesEveryScalar() =>
        Assert.Equal(Hex("08 00 10 01 18 02"), RaftpbMarshal.Marshal(new Entry(1, 2, EntryType.EntryNormal, [])));

    [Fact]
    public void EntryWithDataAndMultiByteVarint() =>
        Assert.Equal(Hex("08 01 10 05 18 ac 02 22 02 61 62"),
            RaftpbMarshal.Marshal(new Entry(5, 300, EntryType.EntryConfChange, "ab"u8.ToArray())));

    [Fact]
    public void ZeroHardState() => Assert.Equal(Hex("08 00 10 00 18 00"), RaftpbMarshal.Marshal(Pb.emptyHardState));

    [Fact]
    public void HardState() => Assert.Equal(Hex("08 02 10 01 18 03"), RaftpbMarshal.Marshal(new HardState(2, 1, 3)));

    [Fact]
    public void ConfStateListsAreUnpacked() =>
        Assert.Equal(Hex("08 01 08 02 10 03 18 04 20 05 28 01"),
            RaftpbMarshal.Marshal(new ConfState(Ids(1, 2), Ids(3), Ids(4), Ids(5), true)));

    [Fact]
    public void EmptySnapshotStillWritesMetadata() =>
        Assert.Equal(Hex(EmptySnapshot), RaftpbMarshal.Marshal(Pb.emptySnapshot));

    [Fact]
    public void SnapshotWithData() =>
        Assert.Equal(Hex("0a 01 ff 12 0a 0a 04 08 01 28 00 10 07 18 02"),
            RaftpbMarshal.Marshal(new Snapshot([0xff], new SnapshotMetadata(new ConfState(Ids(1), Ids(), Ids(), Ids(), false), 7, 2))));

    [Fact]
    public void MessageWritesEveryScalarAndTheEmptySnapshot()
    {
        var m = Msg(MessageType.MsgApp, to: 2, from: 1, term: 3, logTerm: 2, index: 5,
            entries: [new Entry(3, 6, EntryType.EntryNormal, "x"u8.ToArray())], commit: 5);
        Assert.Equal(
            Hex("08 03 10 02 18 01 20 03 28 02 30 05 3a 09 08 00 10 03 18 06 22 01 78 40 05 4a 0a " + EmptySnapshot + " 50 00 58 00"),
            RaftpbMarshal.Marshal(m));
    }

    [Fact]
    public void MessageWithContextAndReject() =>
        Assert.Equal(
            Hex("08 04 10 00 18 00 20 00 28 00 30 00 40 00 4a 0a " + EmptySnapshot + " 50 01 58 09 62 02 01 02"),
            RaftpbMarshal.Marshal(Msg(MessageType.MsgAppResp, reject: true, rejectHint: 9, context: [1, 2])));

    [Fact]
    public void ConfChangeWritesIdFirst() =>
        Assert.Equal(Hex("08 07 10 00 18 04"), RaftpbMarshal.Marshal(new ConfChange(7, ConfChangeType.ConfChangeAddNode, 4, [])));

    [Fact]
    public void ConfChangeV2() =>
        Assert.Equal(Hex("08 02 12 04 08 03 10 05 1a 01 63"),
            RaftpbMarshal.Marshal(new ConfChangeV2(ConfChangeTransition.ConfChangeTransitionJointExplicit,
                ListModule.OfSeq([new ConfChangeSingle(ConfChangeType.ConfChangeAddLearnerNode, 5)]), "c"u8.ToArray())));

    [Fact]
    public void WalMetadataAndSnapshotRecords()
    {
        Assert.Equal(Hex("08 01 10 02"), new WalMetadata(1, 2).Marshal());
        Assert.Equal(Hex("08 00 10 00"), WalSnapshot.Empty.Marshal());
        Assert.Equal(Hex("08 05 10 02 1a 04 08 01 28 00"),
            new WalSnapshot(5, 2, new ConfState(Ids(1), Ids(), Ids(), Ids(), false)).Marshal());
    }

    [Fact]
    public void WalRecordWithoutDataWritesTypeAndCrc() =>
        Assert.Equal(Hex("08 04 10 00"), new Raft.Interop.Walpb.Record { Type = 4, Crc = 0 }.ToByteArray());

    [Fact]
    public void ExplicitlyEmptyBytesStayPresentInProtobufTypes()
    {
        // etcd writes a non-nil empty slice as a present, zero-length field; the protobuf types keep that.
        var e = new Raft.Interop.Raftpb.Entry { Type = 0, Term = 0, Index = 0, Data = ByteString.Empty };
        var bytes = e.ToByteArray();
        Assert.Equal(Hex("08 00 10 00 18 00 22 00"), bytes);
        Assert.Equal(bytes, Raft.Interop.Raftpb.Entry.Parser.ParseFrom(bytes).ToByteArray());
    }

    [Fact]
    public void UnknownEnumNumbersAreErrors()
    {
        Assert.Throws<WireFormatException>(() => RaftpbMarshal.UnmarshalEntry(Hex("08 07 10 00 18 00")));
        Assert.Throws<WireFormatException>(() => RaftpbMarshal.UnmarshalMessage(Hex("08 13")));
        Assert.Throws<WireFormatException>(() => RaftpbMarshal.UnmarshalConfChange(Hex("10 04")));
    }

    [Fact]
    public void MalformedBytesAreErrors() =>
        Assert.Throws<WireFormatException>(() => RaftpbMarshal.UnmarshalEntry(Hex("22 05 01")));
}
