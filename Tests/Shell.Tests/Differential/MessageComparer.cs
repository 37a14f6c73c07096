using System.Collections;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Raft.Shell.Tests.Differential;

/// <summary>
/// Compares two protobuf messages field by field, walking every field the message's descriptor
/// declares (so a field added to the schema is compared without anyone listing it). Two rules narrow
/// it, both stated in the README: a response header's cluster_id, member_id and raft_term differ by
/// nature between two clusters and are skipped; a lease's remaining TTL is compared within
/// <see cref="TtlSlackSeconds"/> (the two servers granted it a few milliseconds apart, and each rounds
/// its own clock). Nothing else is skipped or loosened.
/// </summary>
internal sealed class MessageComparer
{
    /// <summary>How far apart two remaining TTLs (seconds) may be and still count as equal.</summary>
    public const long TtlSlackSeconds = 2;

    private readonly Func<FieldDescriptor, bool> _alsoIgnored;

    /// <param name="alsoIgnored">
    /// Further fields to skip; only the deliberately broken comparer of the tests passes one.
    /// </param>
    public MessageComparer(Func<FieldDescriptor, bool>? alsoIgnored = null) => _alsoIgnored = alsoIgnored ?? (_ => false);

    /// <summary>The comparer the differential test uses.</summary>
    public static MessageComparer Default { get; } = new();

    /// <summary>True for the header fields that name a cluster, a member or a term: never compared.</summary>
    public static bool DiffersByNature(FieldDescriptor f) =>
        f.ContainingType.FullName == "etcdserverpb.ResponseHeader" && f.Name is "cluster_id" or "member_id" or "raft_term";

    private static bool IsRemainingTtl(FieldDescriptor f) =>
        f.ContainingType.FullName == "etcdserverpb.LeaseTimeToLiveResponse" && f.Name == "TTL";

    /// <summary>Every difference between <paramref name="a"/> and <paramref name="b"/>, one line each, by field path.</summary>
    public List<string> Differences(IMessage a, IMessage b)
    {
        var diffs = new List<string>();
        if (a.Descriptor != b.Descriptor)
            diffs.Add($"(message): {a.Descriptor.FullName} vs {b.Descriptor.FullName}");
        else
            Walk("", a, b, diffs);
        return diffs;
    }

    private void Walk(string path, IMessage a, IMessage b, List<string> diffs)
    {
        foreach (var f in a.Descriptor.Fields.InFieldNumberOrder())
        {
            if (DiffersByNature(f) || _alsoIgnored(f))
                continue;
            var p = path.Length == 0 ? f.Name : $"{path}.{f.Name}";
            var va = f.Accessor.GetValue(a);
            var vb = f.Accessor.GetValue(b);
            if (f.IsMap)
                throw new NotSupportedException($"{p}: map fields are not compared (etcd's API has none)");
            if (f.IsRepeated)
            {
                var (la, lb) = ((IList)va, (IList)vb);
                if (la.Count != lb.Count)
                    diffs.Add($"{p}: {la.Count} items vs {lb.Count}");
                for (var i = 0; i < Math.Min(la.Count, lb.Count); i++)
                    Value($"{p}[{i}]", f, la[i], lb[i], diffs);
            }
            else
                Value(p, f, va, vb, diffs);
        }
    }

    private void Value(string path, FieldDescriptor f, object? a, object? b, List<string> diffs)
    {
        if (f.FieldType is FieldType.Message or FieldType.Group)
        {
            if (a is null || b is null)
            {
                if (a is not null || b is not null)
                    diffs.Add($"{path}: {(a is null ? "absent" : "present")} vs {(b is null ? "absent" : "present")}");
                return;
            }
            Walk(path, (IMessage)a, (IMessage)b, diffs);
            return;
        }
        if (IsRemainingTtl(f) && a is long ta && b is long tb && (ta < 0) == (tb < 0) && Math.Abs(ta - tb) <= TtlSlackSeconds)
            return;
        if (!Equals(a, b))
            diffs.Add($"{path}: {Show(a)} vs {Show(b)}");
    }

    /// <summary>A value as the failure message prints it: bytes as quoted text when they are text.</summary>
    public static string Show(object? v) => v switch
    {
        null => "null",
        ByteString bs => Text(bs),
        string s => $"\"{s}\"",
        bool x => x ? "true" : "false",
        _ => v.ToString() ?? "",
    };

    private static string Text(ByteString bs)
    {
        var bytes = bs.Span;
        foreach (var c in bytes)
            if (c < 0x20 || c > 0x7e)
                return "0x" + Convert.ToHexString(bytes);
        return $"\"{bs.ToStringUtf8()}\"";
    }
}
