namespace Raft.Shell.Tests.Chaos;

/// <summary>The command line both programs get: the shared Raft flags, less those a test sets itself.</summary>
public class MemberFlavourTests
{
    [Fact]
    public void AMembersOwnFlagReplacesTheSharedOneAndTheRestStay()
    {
        string[] own = ["--snapshot-count", "40", "--experimental-snapshot-catchup-entries", "10"];
        var flags = MemberFlavour.WithOwnFlags(own).ToList();
        Assert.Single(flags, "--snapshot-count");
        Assert.Equal("40", flags[flags.IndexOf("--snapshot-count") + 1]);
        var shared = MemberFlavour.SharedFlags.Where(f => f.StartsWith("--", StringComparison.Ordinal) && f != "--snapshot-count");
        Assert.All(shared, f => Assert.Contains(f, flags));
        Assert.Equal(MemberFlavour.SharedFlags.Count - 2 + own.Length, flags.Count);
    }

    [Fact]
    public void WithoutOwnFlagsEveryMemberGetsTheSharedOnes() =>
        Assert.Equal(MemberFlavour.SharedFlags, MemberFlavour.WithOwnFlags([]));

    [Fact]
    public void AnOwnFlagWithItsValueAfterAnEqualsSignReplacesTheSharedOne() =>
        Assert.Equal([.. MemberFlavour.SharedFlags.Where(f => !f.StartsWith("--pre-vote=", StringComparison.Ordinal)), "--pre-vote=false"],
            MemberFlavour.WithOwnFlags(["--pre-vote=false"]));
}
