using System.Globalization;
using System.Text.Json;
using Raft.Interop;
using Raft.Shell.Node;

namespace Raft.Kv.Dashboard;

/// <summary>
/// <c>GET /dashboard/api/self</c>: everything the cluster page shows about one member, as that
/// member sees it. Ids are hexadecimal strings (as etcdctl prints them); indexes are plain numbers.
/// </summary>
internal static class SelfReport
{
    public static string Hex(ulong id) => id.ToString("x", CultureInfo.InvariantCulture);

    public static void Write(Utf8JsonWriter w, IRaftNode node, KvStateMachine store, string version, DashboardSampler sampler, TimeProvider clock)
    {
        var s = node.Status;
        var kv = store.Store;
        w.WriteStartObject();
        w.WriteNumber("now"u8, clock.GetUtcNow().ToUnixTimeMilliseconds());
        w.WriteString("id"u8, Hex(s.MemberId));
        w.WriteString("cluster_id"u8, Hex(s.ClusterId));
        w.WriteString("name"u8, node.Members.FirstOrDefault(m => m.Id == s.MemberId)?.Name ?? "");
        w.WriteString("version"u8, version);
        w.WriteString("role"u8, s.IsLearner ? "learner" : s.Role switch
        {
            NodeRole.Leader => "leader",
            NodeRole.Candidate => "candidate",
            NodeRole.PreCandidate => "pre-candidate",
            _ => "follower",
        });
        w.WriteString("leader"u8, Hex(s.Leader));
        w.WriteNumber("term"u8, s.Term);
        w.WriteNumber("commit"u8, s.CommitIndex);
        w.WriteNumber("applied"u8, s.AppliedIndex);
        w.WriteNumber("snapshot_index"u8, s.SnapshotIndex);
        // Whether the key browser needs a signed-in user; anyone may learn it (etcd's AuthStatus).
        w.WriteBoolean("auth_enabled"u8, store.Auth.Enabled);
        w.WriteStartObject("store"u8);
        w.WriteNumber("revision"u8, kv.CurrentRevision);
        w.WriteNumber("keys"u8, kv.KeyCount);
        w.WriteNumber("size_bytes"u8, kv.SizeBytes);
        w.WriteEndObject();
        WriteMembers(w, node);
        var full = node as RaftNode;
        WriteProgress(w, full?.Progress ?? [], s.MemberId);
        WriteFiles(w, full);
        w.WriteStartObject("rates"u8);
        sampler.Rates.Write(w);
        w.WriteEndObject();
        sampler.WriteEvents(w);
        // The cluster's active alarms (every member holds the same list, applied through Raft); the
        // errors are those etcd's maintenance status lists.
        w.WriteStartArray("alarms"u8);
        foreach (var a in store.Alarms)
        {
            w.WriteStartObject();
            w.WriteString("alarm"u8, a.Alarm.ToString().ToUpperInvariant());
            w.WriteString("member"u8, Hex(a.MemberId));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("errors"u8);
        if (s.Leader == 0)
            w.WriteStringValue("etcdserver: no leader");
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteMembers(Utf8JsonWriter w, IRaftNode node)
    {
        w.WriteStartArray("members"u8);
        foreach (var m in node.Members.OrderBy(m => m.Id))
        {
            w.WriteStartObject();
            w.WriteString("id"u8, Hex(m.Id));
            w.WriteString("name"u8, m.Name);
            Strings(w, "peer_urls"u8, m.PeerUrls);
            Strings(w, "client_urls"u8, m.ClientUrls);
            w.WriteBoolean("is_learner"u8, m.IsLearner);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void Strings(Utf8JsonWriter w, ReadOnlySpan<byte> name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values)
            w.WriteStringValue(v);
        w.WriteEndArray();
    }

    // The leader's tracker; lag is how far a member's log is behind the leader's own (its match).
    private static void WriteProgress(Utf8JsonWriter w, IReadOnlyList<PeerProgress> progress, ulong self)
    {
        var leaderMatch = progress.FirstOrDefault(p => p.Id == self)?.Match ?? 0;
        w.WriteStartArray("progress"u8);
        foreach (var p in progress)
        {
            w.WriteStartObject();
            w.WriteString("id"u8, Hex(p.Id));
            w.WriteNumber("match"u8, p.Match);
            w.WriteNumber("next"u8, p.Next);
            w.WriteString("state"u8, p.State switch
            {
                "StateProbe" => "probe",
                "StateReplicate" => "replicate",
                "StateSnapshot" => "snapshot",
                var other => other,
            });
            w.WriteNumber("inflight"u8, p.Inflight);
            w.WriteNumber("inflight_capacity"u8, p.InflightCapacity);
            w.WriteBoolean("paused"u8, p.Paused);
            w.WriteBoolean("recent_active"u8, p.RecentActive);
            w.WriteNumber("pending_snapshot"u8, p.PendingSnapshot);
            w.WriteBoolean("is_learner"u8, p.IsLearner);
            w.WriteNumber("lag"u8, leaderMatch > p.Match ? leaderMatch - p.Match : 0);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    // The WAL's bytes on disk count the newest segment at its preallocated length (64 MB from its
    // creation on); in use counts it up to where the WAL appends, so the figure grows with the log.
    private static void WriteFiles(Utf8JsonWriter w, RaftNode? node)
    {
        w.WriteStartObject("files"u8);
        if (node is not null)
        {
            var tail = node.WalTail;
            long inUse = 0;
            var (walCount, walBytes, _) = Scan(node.WalDirectory, "*.wal", f =>
                inUse += tail is not null && f.Name == tail.FileName ? Math.Min(tail.Offset, f.Length) : f.Length);
            var (snapCount, snapBytes, newest) = Scan(node.SnapDirectory, "*.snap", null);
            w.WriteNumber("wal_count"u8, walCount);
            w.WriteNumber("wal_bytes"u8, walBytes);
            w.WriteNumber("wal_bytes_in_use"u8, inUse);
            w.WriteNumber("snap_count"u8, snapCount);
            w.WriteNumber("snap_bytes"u8, snapBytes);
            // Snapshot files are named term-index in hex (etcd's %016x-%016x.snap).
            var dash = newest?.IndexOf('-') ?? -1;
            if (dash > 0 && ulong.TryParse(newest.AsSpan(dash + 1, newest!.Length - dash - 1 - ".snap".Length), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var index))
                w.WriteNumber("last_snapshot_index"u8, index);
            else
                w.WriteNull("last_snapshot_index"u8);
        }
        w.WriteEndObject();
    }

    private static (int Count, long Bytes, string? Newest) Scan(string dir, string pattern, Action<FileInfo>? each)
    {
        int count = 0;
        long bytes = 0;
        string? newest = null;
        try
        {
            foreach (var f in new DirectoryInfo(dir).EnumerateFiles(pattern))
            {
                count++;
                bytes += f.Length;
                each?.Invoke(f);
                if (newest is null || string.CompareOrdinal(f.Name, newest) > 0)
                    newest = f.Name;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A file purged between listing and reading its size: the next poll counts again.
        }
        return (count, bytes, newest);
    }
}
