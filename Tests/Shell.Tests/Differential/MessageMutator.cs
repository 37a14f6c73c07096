using System.Collections;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Raft.Shell.Tests.Differential;

/// <summary>
/// Fills every field of a message and changes one field at a time, by reflection over its
/// descriptor: the tests use it to show that the comparer notices a change to any field of any
/// response (and that a comparer which skips one does not pass).
/// </summary>
internal static class MessageMutator
{
    /// <summary>
    /// A message of type <typeparamref name="T"/> with every field set to a value that is not its
    /// default, nested messages to <paramref name="depth"/> levels, two items per list. Of each oneof
    /// only one member can be set: <paramref name="variant"/> chooses which.
    /// </summary>
    public static T Populated<T>(int variant, int depth = 4) where T : IMessage, new()
    {
        var m = new T();
        Populate(m, variant, depth, new Counter());
        return m;
    }

    private sealed class Counter
    {
        public int Next;
    }

    private static void Populate(IMessage m, int variant, int depth, Counter c)
    {
        foreach (var f in m.Descriptor.Fields.InFieldNumberOrder())
        {
            if (f.ContainingOneof is { } oneof && oneof.Fields[variant % oneof.Fields.Count] != f)
                continue;
            if (f.IsRepeated)
            {
                var list = (IList)f.Accessor.GetValue(m);
                for (var i = 0; i < 2; i++)
                    if (NewValue(f, variant, depth, c) is { } v)
                        list.Add(v);
            }
            else if (NewValue(f, variant, depth, c) is { } v)
                f.Accessor.SetValue(m, v);
        }
    }

    private static object? NewValue(FieldDescriptor f, int variant, int depth, Counter c)
    {
        var n = ++c.Next;
        switch (f.FieldType)
        {
            case FieldType.Message or FieldType.Group:
                if (depth == 0)
                    return null;
                var inner = (IMessage)Activator.CreateInstance(f.MessageType.ClrType)!;
                Populate(inner, variant, depth - 1, c);
                return inner;
            case FieldType.Bool: return true;
            case FieldType.String: return $"s{n}";
            case FieldType.Bytes: return ByteString.CopyFromUtf8($"b{n}");
            case FieldType.Enum:
                var values = f.EnumType.Values;
                return Enum.ToObject(f.EnumType.ClrType, values[values.Count - 1].Number);
            case FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64: return (long)n;
            case FieldType.UInt64 or FieldType.Fixed64: return (ulong)n;
            case FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32: return n;
            case FieldType.UInt32 or FieldType.Fixed32: return (uint)n;
            case FieldType.Double: return (double)n;
            case FieldType.Float: return (float)n;
            default: throw new NotSupportedException(f.FieldType.ToString());
        }
    }

    /// <summary>A deep copy (through the wire format, which keeps every field).</summary>
    public static IMessage Copy(IMessage m) => m.Descriptor.Parser.ParseFrom(m.ToByteString());

    /// <summary>
    /// Every place a change can be made, by the path the comparer reports it under: each field's value,
    /// each list's length and each nested message's presence. <paramref name="byNature"/> is true for
    /// the header fields the comparer skips on purpose.
    /// </summary>
    public static List<(string Path, bool ByNature)> Leaves(IMessage m)
    {
        var leaves = new List<(string, bool)>();
        Visit(m, "", (path, f, _, _) => leaves.Add((path, f is not null && MessageComparer.DiffersByNature(f))));
        return leaves;
    }

    /// <summary>Changes the <paramref name="leaf"/>-th place (in <see cref="Leaves"/>' order) of <paramref name="m"/>; returns its path.</summary>
    public static string Mutate(IMessage m, int leaf)
    {
        string? done = null;
        var i = 0;
        Visit(m, "", (path, f, owner, item) =>
        {
            if (i++ != leaf || done is not null)
                return;
            done = path;
            if (f is null)
            {
                // A list's length: drop its last item.
                var list = (IList)item!;
                list.RemoveAt(list.Count - 1);
            }
            else if (item is int index)
            {
                var list = (IList)f.Accessor.GetValue(owner);
                list[index] = Changed(f, list[index]!);
            }
            else if (f.FieldType is FieldType.Message or FieldType.Group)
                f.Accessor.SetValue(owner, null);
            else
                f.Accessor.SetValue(owner, Changed(f, f.Accessor.GetValue(owner)));
        });
        return done ?? throw new ArgumentOutOfRangeException(nameof(leaf), $"{leaf}: the message has {i} places");
    }

    // Far enough from the original that no tolerance of the comparer (a TTL's seconds) hides it.
    private static object Changed(FieldDescriptor f, object v) => v switch
    {
        bool b => !b,
        string s => s + "x",
        ByteString bs => ByteString.CopyFrom([.. bs.Span, (byte)'x']),
        Enum e => Enum.ToObject(f.EnumType.ClrType, f.EnumType.Values.First(x => x.Number != Convert.ToInt32(e)).Number),
        long x => x + 1000,
        ulong x => x + 1000,
        int x => x + 1000,
        uint x => x + 1000,
        double x => x + 1000,
        float x => x + 1000,
        _ => throw new NotSupportedException(v.GetType().Name),
    };

    // Calls visit(path, field, owner, item) for each place: item is the list itself for a list's
    // length (field null), the index for a list's item, null for a singular field.
    private static void Visit(IMessage m, string path, Action<string, FieldDescriptor?, IMessage, object?> visit)
    {
        foreach (var f in m.Descriptor.Fields.InFieldNumberOrder())
        {
            var p = path.Length == 0 ? f.Name : $"{path}.{f.Name}";
            var v = f.Accessor.GetValue(m);
            if (f.IsRepeated)
            {
                var list = (IList)v;
                if (list.Count > 0)
                    visit(p, null, m, list);
                for (var i = 0; i < list.Count; i++)
                {
                    if (list[i] is IMessage inner)
                        Visit(inner, $"{p}[{i}]", visit);
                    else
                        visit($"{p}[{i}]", f, m, i);
                }
            }
            else if (v is IMessage inner)
            {
                visit(p, f, m, null);
                Visit(inner, p, visit);
            }
            else if (v is not null && f.FieldType is not (FieldType.Message or FieldType.Group))
                visit(p, f, m, null);
        }
    }
}
