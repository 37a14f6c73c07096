using System.Collections.Immutable;
using System.Text.Json;

namespace Raft.Shell.Node.Membership;

/// <summary>
/// The applied membership as JSON, with members in etcd's Member form: carried in snapshots and
/// answered to members that join.
/// </summary>
internal static class MembershipJson
{
    /// <summary>The view as JSON: <c>{"clusterID":N,"members":[member...],"removed":[id...]}</c>.</summary>
    public static byte[] Write(ClusterView c)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteNumber("clusterID", c.ClusterId);
            w.WritePropertyName("members");
            w.WriteStartArray();
            foreach (var m in c.Members.Values)
                w.WriteRawValue(m.ToJson(), skipInputValidation: true);
            w.WriteEndArray();
            w.WritePropertyName("removed");
            w.WriteStartArray();
            foreach (var id in c.Removed)
                w.WriteNumberValue(id);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    /// <summary>Reads what <see cref="Write"/> wrote.</summary>
    public static ClusterView Read(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        using var doc = JsonDocument.ParseValue(ref reader);
        var root = doc.RootElement;
        var members = ImmutableSortedDictionary.CreateBuilder<ulong, ClusterMember>();
        foreach (var e in root.GetProperty("members").EnumerateArray())
        {
            var m = ClusterMember.FromJson(JsonSerializer.SerializeToUtf8Bytes(e));
            members[m.Id] = m;
        }
        var removed = root.GetProperty("removed").EnumerateArray().Select(e => e.GetUInt64()).ToImmutableSortedSet();
        return new ClusterView(root.GetProperty("clusterID").GetUInt64(), members.ToImmutable(), removed);
    }
}
