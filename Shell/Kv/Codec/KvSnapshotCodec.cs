using Raft.Kv.Mvcc;

namespace Raft.Kv.Codec;

/// <summary>
/// The store's snapshot bytes: a protobuf message { int64 revision = 1; repeated mvccpb.KeyValue kvs = 2; }
/// with the pairs in key order, so equal states give equal bytes on every member.
/// </summary>
public static class KvSnapshotCodec
{
    private const int RevisionField = 1, KvsField = 2;

    // mvccpb.KeyValue fields.
    private const int KvKey = 1, KvCreate = 2, KvMod = 3, KvVersion = 4, KvValue = 5, KvLease = 6;

    /// <summary>Serializes <paramref name="state"/>.</summary>
    public static byte[] Encode(KvState state)
    {
        var pairs = state.Pairs();
        var sizes = new int[pairs.Count];
        var total = ProtoWriter.VarintFieldSize(RevisionField, state.Revision.AsVarint());
        for (var i = 0; i < pairs.Count; i++)
        {
            sizes[i] = PairSize(pairs[i]);
            total += ProtoWriter.MessageFieldSize(KvsField, sizes[i]);
        }
        // Every byte is written below; a snapshot can be hundreds of megabytes, not worth zeroing first.
        var bytes = GC.AllocateUninitializedArray<byte>(total);
        var w = new ProtoWriter(bytes);
        w.WriteVarintField(RevisionField, state.Revision.AsVarint());
        for (var i = 0; i < pairs.Count; i++)
        {
            var kv = pairs[i];
            w.WriteMessageHeader(KvsField, sizes[i]);
            w.WriteBytesField(KvKey, kv.Key.Span);
            w.WriteVarintField(KvCreate, kv.CreateRevision.AsVarint());
            w.WriteVarintField(KvMod, kv.ModRevision.AsVarint());
            w.WriteVarintField(KvVersion, kv.Version.AsVarint());
            w.WriteBytesField(KvValue, kv.Value.Span);
        }
        if (w.Position != total)
            throw new InvalidOperationException($"broken invariant: store snapshot sized {total} bytes, {w.Position} written");
        return bytes;
    }

    private static int PairSize(KeyValue kv) =>
        ProtoWriter.BytesFieldSize(KvKey, kv.Key.Length)
        + ProtoWriter.VarintFieldSize(KvCreate, kv.CreateRevision.AsVarint())
        + ProtoWriter.VarintFieldSize(KvMod, kv.ModRevision.AsVarint())
        + ProtoWriter.VarintFieldSize(KvVersion, kv.Version.AsVarint())
        + ProtoWriter.BytesFieldSize(KvValue, kv.Value.Length);

    /// <summary>Rebuilds the state <see cref="Encode"/> serialized.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a snapshot of this store.</exception>
    public static KvState Decode(ReadOnlySpan<byte> snapshot)
    {
        var r = new ProtoReader(snapshot);
        long revision = 0;
        var pairs = new List<KeyValue>();
        while (!r.AtEnd)
        {
            if (!r.TryReadTag(out var field, out var type)) throw new InvalidDataException("store snapshot: bad protobuf tag");
            var ok = field switch
            {
                RevisionField => r.TryReadInt64(type, out revision),
                KvsField => TryReadPair(ref r, type, pairs),
                _ => r.TrySkip(type),
            };
            if (!ok) throw new InvalidDataException($"store snapshot: bad field {field}");
        }
        return KvState.FromSorted(revision, pairs);
    }

    private static bool TryReadPair(ref ProtoReader outer, WireType type, List<KeyValue> into)
    {
        if (type != WireType.LengthDelimited || !outer.TryReadLengthDelimited(out var body)) return false;
        var r = new ProtoReader(body);
        byte[] key = [], value = [];
        long create = 0, mod = 0, version = 0, lease = 0;
        while (!r.AtEnd)
        {
            if (!r.TryReadTag(out var field, out var t)) return false;
            var ok = field switch
            {
                KvKey => r.TryReadBytes(t, out key),
                KvCreate => r.TryReadInt64(t, out create),
                KvMod => r.TryReadInt64(t, out mod),
                KvVersion => r.TryReadInt64(t, out version),
                KvValue => r.TryReadBytes(t, out value),
                KvLease => r.TryReadInt64(t, out lease),
                _ => r.TrySkip(t),
            };
            if (!ok || lease != 0) return false;
        }
        into.Add(new KeyValue(key, create, mod, version, value));
        return true;
    }
}
