namespace Raft.Shell.Tests;

public class SmokeTests
{
    [Fact]
    public void CoreTypesAreReachableFromCSharp()
    {
        Assert.True(Raft.Core.Pb.isEmptySnap(Raft.Core.Pb.emptySnapshot));
    }
}
