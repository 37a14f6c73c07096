namespace Raft.Shell.Tests.EndToEnd;

/// <summary>
/// A cluster of <c>raft serve</c> processes on loopback, each member with its own ports and data
/// directory under one temp directory (removed on dispose, after every process is killed).
/// </summary>
internal sealed class ProcessCluster : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string[] _flags;
    private readonly string _host;

    /// <param name="size">Members of the initial cluster (m1 .. m<paramref name="size"/>).</param>
    /// <param name="flags">Flags every member gets besides names, URLs and data.</param>
    public ProcessCluster(int size, params string[] flags)
        : this("127.0.0.1", size, flags)
    {
    }

    /// <param name="host">The loopback address every member listens on.</param>
    /// <param name="size">Members of the initial cluster (m1 .. m<paramref name="size"/>).</param>
    /// <param name="flags">Flags every member gets besides names, URLs and data.</param>
    public ProcessCluster(string host, int size, params string[] flags)
    {
        _host = host;
        _flags = flags;
        Token = "e2e-" + Guid.NewGuid().ToString("N")[..8];
        for (var i = 1; i <= size; i++)
            Members.Add(NewMember($"m{i}"));
        var initial = InitialCluster(Members);
        foreach (var m in Members)
            m.InitialCluster = initial;
    }

    /// <summary>etcd's defaults: a heartbeat every 100 ms, elections after 1 s.</summary>
    public static readonly TimeSpan ElectionTimeout = TimeSpan.FromSeconds(1);

    public string Token { get; }

    public List<Member> Members { get; } = [];

    public string DataRoot => _dir.Path;

    public static string InitialCluster(IEnumerable<Member> members) => string.Join(",", members.Select(m => $"{m.Name}={m.PeerUrl}"));

    /// <summary>A member with this cluster's token and flags, not yet part of <see cref="Members"/>.</summary>
    public Member NewMember(string name)
    {
        var m = new Member(name, _dir.Sub(name), Token, _host);
        m.Flags.AddRange(_flags);
        return m;
    }

    public Member this[string name] => Members.Single(m => m.Name == name);

    public IEnumerable<Member> Running => Members.Where(m => m.IsRunning);

    /// <summary>Launches every member at once (as an operator's script does), then waits until each serves.</summary>
    public async Task StartAsync()
    {
        foreach (var m in Members)
            m.Launch();
        foreach (var m in Members)
            Assert.True(await m.WaitStartedAsync(TimeSpan.FromSeconds(60)), $"{m.Name} did not start:\n{m.Output}");
    }

    /// <summary>
    /// The leader that every running member (or those given) agrees on, once they do; the leader must
    /// be one of them, and not <paramref name="not"/>.
    /// </summary>
    public async Task<Member> WaitForLeaderAsync(TimeSpan timeout, IEnumerable<Member>? among = null, Member? not = null)
    {
        var members = (among ?? Running).ToArray();
        return await Wait.ForAsync("a leader all of " + string.Join(", ", members.Select(m => m.Name)) + " agree on", timeout, async () =>
        {
            ulong leader = 0;
            foreach (var m in members)
            {
                var s = await m.Client.StatusAsync();
                if (s is null || s.Leader == 0 || (leader != 0 && s.Leader != leader))
                    return null;
                leader = s.Leader;
            }
            var lead = members.FirstOrDefault(m => m.Id == leader);
            return lead is not null && lead != not ? lead : null;
        }, Diagnostics);
    }

    /// <summary>A put that is retried until a member acknowledges it (a leader may change meanwhile).</summary>
    public static async Task<Reply> PutEventuallyAsync(Member through, string key, string value, TimeSpan timeout)
    {
        return await Wait.ForAsync($"a put of {key} through {through.Name}", timeout, async () =>
        {
            var r = await through.Client.PutAsync(key, value);
            return r is { Ok: true } ? r : null;
        }, () => through.Output);
    }

    /// <summary>The tail of every member's output, for a failing assertion's message.</summary>
    public string Diagnostics() =>
        string.Join("\n", Members.Select(m => $"--- {m.Name} ({(m.IsRunning ? "running" : "stopped")}):\n{Tail(m.Output, 40)}"));

    public static string Tail(string text, int lines)
    {
        var all = text.Split('\n');
        return string.Join("\n", all.Skip(Math.Max(0, all.Length - lines)));
    }

    public void Dispose()
    {
        foreach (var m in Members)
            m.Dispose();
        _dir.Dispose();
    }
}
