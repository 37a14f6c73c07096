using Raft.Cli;
using Raft.Core;

namespace Raft.Shell.Tests.Cli;

// Inside the namespace: Google.Protobuf 3.36 (dotnet-etcd's) has a global namespace Pb that would hide Core's Pb.
using Pb = Raft.Core.Pb;

public static class CountingPlanner
{
    public static int Calls;

    public static Plan Plan(PlanInput input, PlannerState state)
    {
        Interlocked.Increment(ref Calls);
        return Planner.plan(input, state);
    }

    public static int NotAPlanner(int x) => x;
}

public class PlannerOverrideTests
{
    private static readonly string Self = typeof(CountingPlanner).Assembly.Location;

    [Fact]
    public void LoadsAPublicStaticPlannerFromAnAssembly()
    {
        var planner = PlannerOverride.Load($"{Self}:Raft.Shell.Tests.Cli.CountingPlanner.Plan");
        Assert.NotNull(planner);
        var before = CountingPlanner.Calls;
        var plan = planner(new PlanInput(Pb.emptyReady, Microsoft.FSharp.Core.FuncConvert.FromFunc<ulong, bool>(_ => false), TimeSpan.Zero, TimeSpan.FromMilliseconds(100)), Planner.initial);
        Assert.Equal(before + 1, CountingPlanner.Calls);
        Assert.True(plan.Effects.Last().IsAdvance);
        Assert.Null(PlannerOverride.Load(null));
    }

    [Theory]
    [InlineData("nonsense", "must be")]
    [InlineData(":Raft.Shell.Tests.Cli.CountingPlanner.Plan", "must be")]
    [InlineData("SELF:Raft.Shell.Tests.Cli.Nobody.Plan", "no type")]
    [InlineData("SELF:Raft.Shell.Tests.Cli.CountingPlanner.NotAPlanner", "no public static")]
    public void BadSpecificationsSayWhy(string spec, string expected)
    {
        var ex = Assert.Throws<ArgumentException>(() => PlannerOverride.Load(spec.Replace("SELF", Self)));
        Assert.Contains(expected, ex.Message);
    }
}
