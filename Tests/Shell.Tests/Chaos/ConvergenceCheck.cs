using Raft.Shell.Tests.EndToEnd;

namespace Raft.Shell.Tests.Chaos;

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
        var keys = 0;
        long revision = 0;
        await Wait.UntilAsync("every member to hold the same data", TimeSpan.FromSeconds(30), async () =>
        {
            var members = Members;
            var replies = await Task.WhenAll(members.Select(m => m.Client.RangeAsync("0", "~", serializable: true)));
            for (var i = 0; i < members.Count; i++)
            {
                if (replies[i] is not { Ok: true } r)
                {
                    difference = $"{members[i].Name} did not answer: {replies[i]}";
                    return false;
                }
            }
            var first = GatewayClient.Kvs(replies[0]!);
            var firstRevision = ChaosClient.Revision(replies[0]!);
            for (var i = 1; i < members.Count; i++)
            {
                var other = GatewayClient.Kvs(replies[i]!);
                var otherRevision = ChaosClient.Revision(replies[i]!);
                if (otherRevision != firstRevision)
                {
                    difference = $"{members[0].Name} is at revision {firstRevision}, {members[i].Name} at {otherRevision}";
                    return false;
                }
                var differs = first.Keys.Union(other.Keys).FirstOrDefault(k => first.GetValueOrDefault(k) != other.GetValueOrDefault(k));
                if (differs is not null)
                {
                    difference = $"at revision {firstRevision} {members[0].Name} has {differs}={first.GetValueOrDefault(differs) ?? "(absent)"}, {members[i].Name} has {other.GetValueOrDefault(differs) ?? "(absent)"}";
                    return false;
                }
            }
            keys = first.Count;
            revision = firstRevision ?? 0;
            return true;
        }, () => difference + "\n" + Diagnostics());
        Log($"every member ({string.Join(", ", Members.Select(m => m.Name))}) holds the same {keys} keys at revision {revision}");
    }
}
