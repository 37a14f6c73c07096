using System.Text;
using System.Text.Json;

namespace Raft.Shell.Node.Membership;

/// <summary>
/// A member as the replicated membership records it (etcd's membership.Member): the raft
/// attributes (peer URLs, learner flag) change through conf changes; the other attributes (name,
/// client URLs) are published by the member itself once it runs.
/// </summary>
/// <param name="Id">Member id.</param>
/// <param name="PeerUrls">Sorted peer URLs.</param>
/// <param name="IsLearner">Whether it is a non-voting learner.</param>
/// <param name="Name">Its name; empty until it published its attributes.</param>
/// <param name="ClientUrls">Its client URLs; empty until it published them.</param>
public sealed record ClusterMember(ulong Id, IReadOnlyList<string> PeerUrls, bool IsLearner, string Name, IReadOnlyList<string> ClientUrls)
{
    /// <summary>etcd's IsStarted: the member has published its name.</summary>
    public bool IsStarted => Name.Length != 0;

    /// <summary>The public API's view of this member.</summary>
    public Raft.Interop.Member ToApi() => new(Id, Name, PeerUrls, ClientUrls, IsLearner);

    /// <summary>
    /// The member as etcd marshals it into a conf change's context:
    /// <c>{"id":N,"peerURLs":[...],"isLearner":true,"name":"...","clientURLs":[...]}</c> with the
    /// empty optional fields left out, in Go's field order.
    /// </summary>
    public byte[] ToJson() => MemberJson.Write(this, isPromote: null);

    /// <summary>Reads a member written by <see cref="ToJson"/> (or by etcd).</summary>
    public static ClusterMember FromJson(ReadOnlySpan<byte> json) => MemberJson.Read(json).Member;
}

/// <summary>
/// etcd's ConfigChangeContext: the member, plus whether an AddNode promotes a learner (both adding
/// and promoting use ConfChangeAddNode).
/// </summary>
/// <param name="Member">The member added or promoted.</param>
/// <param name="IsPromote">Whether this AddNode promotes an existing learner.</param>
internal sealed record ConfigChangeContext(ClusterMember Member, bool IsPromote)
{
    /// <summary>The JSON etcd writes: the member's fields and <c>"isPromote"</c>.</summary>
    public byte[] ToJson() => MemberJson.Write(Member, IsPromote);

    /// <summary>Reads a context written by etcd or by <see cref="ToJson"/>; a bare member is not a promotion.</summary>
    public static ConfigChangeContext FromJson(ReadOnlySpan<byte> json)
    {
        var (member, isPromote) = MemberJson.Read(json);
        return new ConfigChangeContext(member, isPromote);
    }
}

/// <summary>The JSON shape of etcd's Member (Go's encoding/json over the embedded structs).</summary>
internal static class MemberJson
{
    public static byte[] Write(ClusterMember m, bool? isPromote)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteNumber("id", m.Id);
            w.WritePropertyName("peerURLs");
            WriteStrings(w, m.PeerUrls);
            if (m.IsLearner)
                w.WriteBoolean("isLearner", true);
            if (m.Name.Length != 0)
                w.WriteString("name", m.Name);
            if (m.ClientUrls.Count != 0)
            {
                w.WritePropertyName("clientURLs");
                WriteStrings(w, m.ClientUrls);
            }
            if (isPromote is { } p)
                w.WriteBoolean("isPromote", p);
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    private static void WriteStrings(Utf8JsonWriter w, IReadOnlyList<string> values)
    {
        w.WriteStartArray();
        foreach (var v in values)
            w.WriteStringValue(v);
        w.WriteEndArray();
    }

    public static (ClusterMember Member, bool IsPromote) Read(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        using var doc = JsonDocument.ParseValue(ref reader);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw new FormatException("member JSON is not an object: " + Encoding.UTF8.GetString(json));
        ulong id = 0;
        IReadOnlyList<string> peers = [];
        IReadOnlyList<string> clients = [];
        var learner = false;
        var name = "";
        var promote = false;
        foreach (var p in root.EnumerateObject())
        {
            // Go's decoder matches names case-insensitively.
            switch (p.Name.ToLowerInvariant())
            {
                case "id": id = p.Value.GetUInt64(); break;
                case "peerurls": peers = Strings(p.Value); break;
                case "islearner": learner = p.Value.ValueKind == JsonValueKind.True; break;
                case "name": name = p.Value.GetString() ?? ""; break;
                case "clienturls": clients = Strings(p.Value); break;
                case "ispromote": promote = p.Value.ValueKind == JsonValueKind.True; break;
            }
        }
        return (new ClusterMember(id, peers, learner, name, clients), promote);
    }

    private static IReadOnlyList<string> Strings(JsonElement e) =>
        e.ValueKind == JsonValueKind.Array ? e.EnumerateArray().Select(x => x.GetString() ?? "").ToArray() : [];
}
