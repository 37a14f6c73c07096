using System.Collections;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Raft.Shell.Tests.Differential;

/// <summary>
/// A message on one line for failure messages: the fields that are set, by their proto names, byte
/// strings as text (keys and values are text here), so that a request or response reads at a glance.
/// </summary>
internal static class MessageText
{
    public static string Of(IMessage m)
    {
        var sb = new StringBuilder();
        Write(sb, m);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, IMessage m)
    {
        sb.Append('{');
        var first = true;
        foreach (var f in m.Descriptor.Fields.InFieldNumberOrder())
        {
            var v = f.Accessor.GetValue(m);
            if (IsDefault(f, v))
                continue;
            sb.Append(first ? " " : ", ").Append(f.Name).Append(": ");
            first = false;
            if (f.IsRepeated)
            {
                sb.Append('[');
                var i = 0;
                foreach (var x in (IList)v)
                {
                    if (i++ > 0) sb.Append(", ");
                    WriteValue(sb, x);
                }
                sb.Append(']');
            }
            else
                WriteValue(sb, v);
        }
        sb.Append(first ? "}" : " }");
    }

    private static void WriteValue(StringBuilder sb, object? v)
    {
        if (v is IMessage m)
            Write(sb, m);
        else
            sb.Append(MessageComparer.Show(v));
    }

    private static bool IsDefault(FieldDescriptor f, object? v) => v switch
    {
        null => true,
        IList l => l.Count == 0,
        IMessage => false,
        ByteString b => b.IsEmpty && f.ContainingOneof is null,
        string s => s.Length == 0,
        bool b => !b,
        Enum e => Convert.ToInt32(e) == 0,
        long x => x == 0,
        ulong x => x == 0,
        int x => x == 0,
        uint x => x == 0,
        _ => false,
    };
}
