using Raft.Shell.Tests.EndToEnd;

namespace Raft.Shell.Tests.Chaos;

/// <summary>
/// Membership changes under load: a learner joins as a new process on a fresh data dir, is
/// promoted, and a voter (a follower or the leader) is removed and its process stopped. The list
/// of members the clients pick from follows every change: a member joins it once its process
/// serves, and leaves it as soon as its removal is acknowledged.
/// </summary>
internal sealed partial class ChaosRun
{
    private static readonly TimeSpan ChangeTimeout = TimeSpan.FromSeconds(30);
    private readonly List<ChaosMember> _everyMember = [];
    private ChaosMember? _learner;

    /// <summary>Every member this run started, removed ones too (their logs are kept, their processes killed at the end).</summary>
    private IReadOnlyList<ChaosMember> EveryMember
    {
        get { lock (_everyMember) return [.. _everyMember]; }
    }

    private void Join(ChaosMember m)
    {
        lock (_everyMember)
        {
            if (!_everyMember.Contains(m)) _everyMember.Add(m);
            _members = [.. _members, m];
        }
    }

    private void Leave(ChaosMember m)
    {
        lock (_everyMember) _members = _members.Where(x => x != m).ToArray();
    }

    /// <summary>Member add as a learner through a current member, then the new process with state "existing".</summary>
    private async Task<string> AddLearnerAsync(FaultStep step)
    {
        Assert.Null(_learner);
        int index;
        lock (_everyMember) index = _everyMember.Count + 1;
        var m = new ChaosMember(index, _dir.Sub($"m{index}"), _token, Flavour) { InitialClusterState = "existing" };
        GiveDialerAddress(m);
        var body = $"{{\"peerURLs\":[\"{m.PeerUrl}\"],\"isLearner\":true}}";
        var reply = await ClusterChangeAsync($"member add of {m.Name} as a learner", step, "/v3/cluster/member/add", body, exclude: null);
        var id = GatewayClient.U64(reply.Json.GetProperty("member"), "ID");
        m.InitialCluster = string.Join(",", Members.Append(m).Select(x => $"{x.Name}={x.PeerUrl}"));
        lock (_everyMember) _everyMember.Add(m);
        m.Launch();
        await m.WaitStartedAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(id, m.Id);
        _learner = m;
        Join(m);
        return $"{m} joined as learner {id:x}";
    }

    /// <summary>Member promote of the learner, retried while the leader finds it not yet in sync.</summary>
    private async Task<string> PromoteLearnerAsync(FaultStep step)
    {
        var m = _learner ?? throw new InvalidOperationException("no learner to promote");
        await ClusterChangeAsync($"member promote of {m.Name}", step, "/v3/cluster/member/promote", $"{{\"ID\":\"{m.Id}\"}}", exclude: null);
        _learner = null;
        return $"{m} promoted";
    }

    /// <summary>Member remove of <paramref name="victim"/> through another member; it leaves the list at once, its process is stopped.</summary>
    private async Task<string> RemoveAsync(FaultStep step, ChaosMember victim)
    {
        await ClusterChangeAsync($"member remove of {victim.Name}", step, "/v3/cluster/member/remove", $"{{\"ID\":\"{victim.Id}\"}}", exclude: victim);
        Leave(victim);
        // A removed member stops by itself once it learns of its removal; give it a moment, then stop it.
        var stopped = victim.Process is { } p && await p.WaitForExitAsync(TimeSpan.FromSeconds(3));
        if (!stopped) victim.Kill();
        return $"{victim} removed ({(stopped ? "it stopped by itself" : "its process killed")})";
    }

    /// <summary>A learner left at the end of a run is promoted, so the final linearizable reads can ask every member.</summary>
    private async Task PromoteLearnersAsync()
    {
        if (_learner is not { } m) return;
        await PromoteLearnerAsync(new FaultStep(FaultKind.PromoteLearner, Seed, TimeSpan.Zero, TimeSpan.Zero));
        Log($"the learner {m} left at the end was promoted");
    }

    /// <summary>
    /// One change through the gateway of a current member (not <paramref name="exclude"/>), retried
    /// on another member until one accepts: with strict reconfiguration checks a cluster refuses
    /// changes while a voter has only just connected, or the learner is not yet in sync.
    /// </summary>
    private async Task<Reply> ClusterChangeAsync(string what, FaultStep step, string path, string body, ChaosMember? exclude)
    {
        var rng = new Random(step.Pick);
        var attempts = 0;
        Reply? refusal = null;
        var accepted = await Wait.ForAsync(what, ChangeTimeout, async () =>
        {
            var via = Members.Where(m => m != exclude && m != _learner && m.IsServing).ToArray();
            if (via.Length == 0) return null;
            attempts++;
            var reply = await via[rng.Next(via.Length)].Client.PostAsync(path, body);
            if (reply is { Ok: true }) return reply;
            refusal = reply;
            await Task.Delay(100);
            return null;
        }, () => $"last refusal: {refusal?.ToString() ?? "(no answer)"}\n{Diagnostics()}");
        if (attempts > 1) Log($"{what}: accepted after {attempts} attempts (last refusal: {refusal?.ToString() ?? "(no answer)"})");
        return accepted;
    }
}
