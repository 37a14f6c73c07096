using System.Text.Json;
using Raft.Interop;
using Raft.Kv.Mvcc;

namespace Raft.Kv.Http;

/// <summary>
/// <c>GET /status</c>: this member's Raft status, its store and the membership on one JSON page, in
/// the gateway's conventions (snake_case names, 64-bit numbers as strings) but with every field shown.
/// </summary>
internal static class StatusPageWriter
{
    private static string U(ulong v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static void Write(Utf8JsonWriter w, IRaftNode node, MvccStore store, string version)
    {
        var s = node.Status;
        w.WriteStartObject();
        w.WriteString("member_id", U(s.MemberId));
        w.WriteString("cluster_id", U(s.ClusterId));
        w.WriteString("version", version);
        w.WriteString("role", s.Role.ToString());
        w.WriteString("leader", U(s.Leader));
        w.WriteString("term", U(s.Term));
        w.WriteString("vote", U(s.Vote));
        w.WriteString("commit_index", U(s.CommitIndex));
        w.WriteString("applied_index", U(s.AppliedIndex));
        w.WriteString("snapshot_index", U(s.SnapshotIndex));
        w.WriteBoolean("is_learner", s.IsLearner);
        w.WriteStartObject("store");
        w.WriteString("revision", U((ulong)store.CurrentRevision));
        w.WriteString("compact_revision", U((ulong)store.CompactRevision));
        w.WriteString("keys", U((ulong)store.KeyCount));
        w.WriteString("size_bytes", U((ulong)store.SizeBytes));
        w.WriteString("consistent_index", U(store.ConsistentIndex));
        w.WriteEndObject();
        w.WriteStartArray("members");
        foreach (var m in node.Members.OrderBy(m => m.Id))
        {
            w.WriteStartObject();
            w.WriteString("ID", U(m.Id));
            w.WriteString("name", m.Name);
            w.WriteStartArray("peerURLs");
            foreach (var u in m.PeerUrls) w.WriteStringValue(u);
            w.WriteEndArray();
            w.WriteStartArray("clientURLs");
            foreach (var u in m.ClientUrls) w.WriteStringValue(u);
            w.WriteEndArray();
            w.WriteBoolean("isLearner", m.IsLearner);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
