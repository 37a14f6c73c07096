using System.Buffers.Binary;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Fuzz;

/// <summary>
/// The fuzzing campaign in CI: a bounded number of mutated inputs per decoder (RAFT_FUZZ_ITERATIONS
/// raises it for the long run), seeded by RAFT_TEST_SEED, and the proof that the harness fails on a
/// decoder that trusts a length field.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    /// <summary>Every decoder's name, one test case each.</summary>
    public static TheoryData<string> Targets() => [.. FuzzTargets.All.Select(t => t.Name)];

    [Theory]
    [MemberData(nameof(Targets))]
    public void DecoderRefusesHostileInputClearly(string name)
    {
        var target = FuzzTargets.All.Single(t => t.Name == name);
        output.WriteLine(TestSeed.Describe);
        var report = FuzzCampaign.Run(target, TestSeed.Value, FuzzCampaign.Iterations(target.CiInputs));
        output.WriteLine(report.ToString());
        Assert.True(report.Findings.Count == 0, $"{TestSeed.Describe}\n{report}\n{string.Join("\n", report.Findings)}");
        Assert.True(report.Inputs >= Math.Min(FuzzCampaign.Iterations(target.CiInputs), 1), report.ToString());
    }

    [Fact]
    public void HarnessCatchesADecoderThatTrustsItsLengthField()
    {
        output.WriteLine(TestSeed.Describe);
        var report = FuzzCampaign.Run(BrokenFrames, TestSeed.Value, 20_000, maxFindings: 1);
        output.WriteLine(report.ToString());
        var finding = Assert.Single(report.Findings);
        output.WriteLine(finding.ToString());
    }

    [Fact]
    public void HarnessCatchesADecoderThatReadsPastItsInput()
    {
        output.WriteLine(TestSeed.Describe);
        var report = FuzzCampaign.Run(BrokenVarint, TestSeed.Value, 20_000, maxFindings: 1);
        output.WriteLine(report.ToString());
        Assert.Contains("IndexOutOfRange", Assert.Single(report.Findings).What);
    }

    // A frame reader that allocates whatever the length prefix announces before checking it against the input.
    private static readonly FuzzTarget BrokenFrames = new("broken-frames", FuzzTargets.All.Single(t => t.Name == "peer-frames").Seeds, b =>
    {
        var at = 0;
        while (b.Length - at >= 4)
        {
            var length = BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(at));
            var body = new byte[Math.Min(length, (uint)Array.MaxLength)];
            if (body.Length > b.Length - at - 4) throw new InvalidDataException("short frame");
            at += 4 + body.Length;
        }
    }, typeof(InvalidDataException));

    // A protobuf walker that trusts a varint's continuation bits up to the end of the array and beyond.
    private static readonly FuzzTarget BrokenVarint = new("broken-varint", FuzzTargets.All.Single(t => t.Name == "kv-command").Seeds, b =>
    {
        var i = 0;
        while (i < b.Length)
        {
            while ((b[i] & 0x80) != 0) i++;
            i++;
        }
    });
}
