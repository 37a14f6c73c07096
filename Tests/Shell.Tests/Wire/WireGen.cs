using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Collections;
using Raft.Core;

namespace Raft.Shell.Tests.Wire;

// Inside the namespace: Google.Protobuf 3.36 (dotnet-etcd's) has a global namespace Pb that would hide Core's Pb.
using Pb = Raft.Core.Pb;

/// <summary>FsCheck generators for Core's raftpb values, biased towards zeros and empties.</summary>
internal static class WireGen
{
    public static readonly Gen<ulong> U64 = Gen.Frequency(
        (3, Gen.Constant(0UL)),
        (3, Gen.Choose(1, 300).Select(i => (ulong)i)),
        (2, ArbMap.Default.GeneratorFor<ulong>()),
        (1, Gen.Elements(ulong.MaxValue, 1UL << 63, (ulong)uint.MaxValue + 1)));

    public static readonly Gen<byte[]> Bytes = Gen.Frequency(
        (2, Gen.Constant(Array.Empty<byte>())),
        (3, Gen.Choose(0, 255).Select(b => (byte)b).ArrayOf()));

    public static readonly Gen<bool> Bool = ArbMap.Default.GeneratorFor<bool>();

    private static Gen<FSharpList<ulong>> Ids => U64.ListOf().Select(ListModule.OfSeq);

    public static readonly Gen<EntryType> EntryTypes =
        Gen.Elements(EntryType.EntryNormal, EntryType.EntryConfChange, EntryType.EntryConfChangeV2);

    public static readonly Gen<Entry> Entries =
        from t in U64 from i in U64 from ty in EntryTypes from d in Bytes select new Entry(t, i, ty, d);

    public static readonly Gen<HardState> HardStates =
        from t in U64 from v in U64 from c in U64 select new HardState(t, v, c);

    public static readonly Gen<ConfState> ConfStates =
        from v in Ids from l in Ids from vo in Ids from ln in Ids from a in Bool select new ConfState(v, l, vo, ln, a);

    public static readonly Gen<Snapshot> Snapshots =
        from d in Bytes from cs in ConfStates from i in U64 from t in U64
        select new Snapshot(d, new SnapshotMetadata(cs, i, t));

    public static readonly Gen<MessageType> MessageTypes =
        Gen.Choose(0, 18).Select(n => Pb.messageTypeOfNumber(n).Value);

    public static readonly Gen<Message> Messages =
        from ty in MessageTypes
        from to in U64 from fr in U64 from term in U64 from lt in U64 from idx in U64
        from ents in Entries.ArrayOf().Resize(4)
        from commit in U64 from snap in Snapshots from rej in Bool from hint in U64 from ctx in Bytes
        select new Message(ty, to, fr, term, lt, idx, ents, commit, snap, rej, hint, ctx);

    public static readonly Gen<ConfChangeType> ChangeTypes = Gen.Choose(0, 3).Select(n => Pb.confChangeTypeOfNumber(n).Value);

    public static readonly Gen<ConfChange> ConfChanges =
        from id in U64 from ty in ChangeTypes from n in U64 from ctx in Bytes select new ConfChange(id, ty, n, ctx);

    public static readonly Gen<ConfChangeV2> ConfChangeV2s =
        from tr in Gen.Choose(0, 2).Select(n => Pb.confChangeTransitionOfNumber(n).Value)
        from cs in (from ty in ChangeTypes from n in U64 select new ConfChangeSingle(ty, n)).ListOf()
        from ctx in Bytes
        select new ConfChangeV2(tr, ListModule.OfSeq(cs), ctx);
}
