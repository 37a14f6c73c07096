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
            return difference.Length == 0;
        }, () => difference + "\n" + Diagnostics());
        Log($"every member ({string.Join(", ", Members.Select(m => m.Name))}) holds the same {agreed!.Kvs.Count} keys at revision {agreed.Revision}");
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
