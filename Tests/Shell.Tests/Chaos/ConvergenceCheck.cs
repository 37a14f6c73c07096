using Raft.Shell.Tests.EndToEnd;

namespace Raft.Shell.Tests.Chaos;

/// <summary>One member's serializable read of every key: its revision and its keys and values.</summary>
internal sealed record MemberData(string Name, long? Revision, IReadOnlyDictionary<string, string> Kvs);

/// <summary>The end of a run: every current member holds the same keys and values at the same revision.</summary>
internal sealed partial class ChaosRun
{
    /// <summary>
    /// Serializable reads of every key (the member's own state machine, not the leader's) on every
    /// current member, until all agree on revision and content; fails naming the difference after 30 s.
    /// </summary>
    private async Task SameDataEverywhereAsync()
    {
        var difference = "";
        MemberData? agreed = null;
        await Wait.UntilAsync("every member to hold the same data", TimeSpan.FromSeconds(30), async () =>
        {
            var members = Members;
            var replies = await Task.WhenAll(members.Select(m => m.Client.RangeAsync("0", "~", serializable: true)));
            var silent = members.Zip(replies).FirstOrDefault(x => x.Second is not { Ok: true });
            if (silent.First is not null)
            {
                difference = $"{silent.First.Name} did not answer: {silent.Second}";
                return false;
            }
            var data = members.Zip(replies, (m, r) => new MemberData(m.Name, ChaosClient.Revision(r!), GatewayClient.Kvs(r!))).ToArray();
            difference = Difference(data) ?? "";
            agreed = data[0];
            if (difference.Length == 0 && Flavour == MemberFlavour.Raft) difference = await HashDifferenceAsync(members) ?? "";
            return difference.Length == 0;
        }, () => difference + "\n" + Diagnostics());
        Log($"every member ({string.Join(", ", Members.Select(m => m.Name))}) holds the same {agreed!.Kvs.Count} keys at revision {agreed.Revision}");
    }

    /// <summary>
    /// Our members' Maintenance.Hash (the gateway's <c>/v3/maintenance/hash</c>: the CRC-32C of the
    /// store's whole history as the backend holds it, tombstones and compaction included, which the
    /// reads above do not see), or null when every member answers one hash at one revision. etcd's
    /// Hash covers its whole database file, which differs between members by nature: only ours.
    /// </summary>
    private static async Task<string?> HashDifferenceAsync(IReadOnlyList<ChaosMember> members)
    {
        var replies = await Task.WhenAll(members.Select(m => m.Client.PostAsync("/v3/maintenance/hash", "{}")));
        var hashes = new List<(string Name, string Revision, string Hash)>();
        foreach (var (m, r) in members.Zip(replies))
        {
            if (r is not { Ok: true }) return $"{m.Name} did not answer its hash: {r}";
            var json = System.Text.Json.Nodes.JsonNode.Parse(r.Body)!;
            hashes.Add((m.Name, json["header"]?["revision"]?.ToJsonString() ?? "", json["hash"]?.ToJsonString() ?? "0"));
        }
        var other = hashes.FirstOrDefault(h => h.Revision != hashes[0].Revision || h.Hash != hashes[0].Hash);
        return other.Name is null ? null
            : $"{hashes[0].Name} hashes its history at revision {hashes[0].Revision} to {hashes[0].Hash}, {other.Name} at revision {other.Revision} to {other.Hash}";
    }

    /// <summary>The first difference between the members' reads (revision, then a key), or null when they all agree.</summary>
    public static string? Difference(IReadOnlyList<MemberData> data)
    {
        var first = data[0];
        foreach (var other in data.Skip(1))
        {
            if (other.Revision != first.Revision)
                return $"{first.Name} is at revision {first.Revision}, {other.Name} at {other.Revision}";
            var key = first.Kvs.Keys.Union(other.Kvs.Keys).Order(StringComparer.Ordinal)
                .FirstOrDefault(k => first.Kvs.GetValueOrDefault(k) != other.Kvs.GetValueOrDefault(k));
            if (key is not null)
                return $"at revision {first.Revision} {first.Name} has {key}={first.Kvs.GetValueOrDefault(key) ?? "(absent)"}, {other.Name} has {key}={other.Kvs.GetValueOrDefault(key) ?? "(absent)"}";
        }
        return null;
    }
}
