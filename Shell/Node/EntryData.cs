using System.Buffers.Binary;
using System.Text.Json;

namespace Raft.Shell.Node;

/// <summary>What a normal entry carries (etcd's InternalRaftRequest, reduced to what we need).</summary>
internal enum EntryKind
{
    /// <summary>Empty data: the no-op a new leader appends.</summary>
    Noop,
    /// <summary>A host command for <see cref="Raft.Interop.IStateMachine.Apply"/>.</summary>
    Command,
    /// <summary>A member publishing its name and client URLs (etcd's publish).</summary>
    MemberAttributes,
    /// <summary>Data this node does not recognise.</summary>
    Unknown,
}

/// <summary>
/// The layout of a normal entry's data: one kind byte, the 8-byte big-endian request id (etcd's
/// reqIDGen, so that the proposing member can hand the result to the waiting caller), then the
/// payload. Empty data is the leader's no-op.
/// </summary>
internal static class EntryData
{
    private const byte CommandTag = 1;
    private const byte AttributesTag = 2;

    /// <summary>Bytes added in front of a host command.</summary>
    public const int Overhead = 9;

    /// <summary>Wraps a host command.</summary>
    public static byte[] Command(ulong requestId, ReadOnlySpan<byte> command) => Pack(CommandTag, requestId, command);

    /// <summary>Wraps a member's published attributes.</summary>
    public static byte[] MemberAttributes(ulong requestId, ulong memberId, string name, IReadOnlyList<string> clientUrls)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteNumber("id", memberId);
            w.WriteString("name", name);
            w.WritePropertyName("clientURLs");
            w.WriteStartArray();
            foreach (var u in clientUrls)
                w.WriteStringValue(u);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Pack(AttributesTag, requestId, ms.ToArray());
    }

    private static byte[] Pack(byte tag, ulong id, ReadOnlySpan<byte> payload)
    {
        var data = new byte[Overhead + payload.Length];
        data[0] = tag;
        BinaryPrimitives.WriteUInt64BigEndian(data.AsSpan(1), id);
        payload.CopyTo(data.AsSpan(Overhead));
        return data;
    }

    /// <summary>Splits an entry's data into its kind, request id and payload.</summary>
    public static (EntryKind Kind, ulong RequestId, ReadOnlyMemory<byte> Payload) Parse(byte[] data)
    {
        if (data.Length == 0)
            return (EntryKind.Noop, 0, ReadOnlyMemory<byte>.Empty);
        if (data.Length < Overhead)
            return (EntryKind.Unknown, 0, data);
        var id = BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(1));
        var payload = data.AsMemory(Overhead);
        return data[0] switch
        {
            CommandTag => (EntryKind.Command, id, payload),
            AttributesTag => (EntryKind.MemberAttributes, id, payload),
            _ => (EntryKind.Unknown, 0, data),
        };
    }

    /// <summary>Reads a published member's attributes.</summary>
    public static (ulong MemberId, string Name, IReadOnlyList<string> ClientUrls) ParseMemberAttributes(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        using var doc = JsonDocument.ParseValue(ref reader);
        var root = doc.RootElement;
        var urls = root.GetProperty("clientURLs").EnumerateArray().Select(e => e.GetString() ?? "").ToArray();
        return (root.GetProperty("id").GetUInt64(), root.GetProperty("name").GetString() ?? "", urls);
    }
}
