using Etcdserverpb;
using Google.Protobuf;
using Raft.Shell.Tests.Compat;
using Raft.Shell.Tests.Storage;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Differential;

/// <summary>
/// etcd 3.4 and <c>raft serve</c>, each a single member with a fresh data directory, get the same
/// seeded random sequence of operations over gRPC, and every answer (every response, every watch
/// event, every error's status code and message) must be the same field by field, but for the header
/// fields that name a cluster, member or term. RAFT_TEST_SEED replays a run; RAFT_DIFF_OPS sets its
/// length (<see cref="CiOps"/> in CI).
/// </summary>
[Collection(ProcessCollection.Name)]
public class DifferentialTests(ITestOutputHelper output)
{
    /// <summary>Operations per run unless RAFT_DIFF_OPS says otherwise: about 20 s on 2 shared cores.</summary>
    public const int CiOps = 1500;

    private static int Ops => int.TryParse(Environment.GetEnvironmentVariable("RAFT_DIFF_OPS"), out var n) && n > 0 ? n : CiOps;

    // Every response type the sequence receives; the comparer must notice a change anywhere in any of them.
    private static IEnumerable<IMessage> Samples()
    {
        // Four variants choose each member of a oneof (a txn's responses: range, put, delete, txn).
        for (var v = 0; v < 4; v++)
        {
            yield return MessageMutator.Populated<RangeResponse>(v);
            yield return MessageMutator.Populated<PutResponse>(v);
            yield return MessageMutator.Populated<DeleteRangeResponse>(v);
            yield return MessageMutator.Populated<TxnResponse>(v);
            yield return MessageMutator.Populated<CompactionResponse>(v);
            yield return MessageMutator.Populated<WatchResponse>(v);
            yield return MessageMutator.Populated<LeaseGrantResponse>(v);
            yield return MessageMutator.Populated<LeaseRevokeResponse>(v);
            yield return MessageMutator.Populated<LeaseTimeToLiveResponse>(v);
            yield return MessageMutator.Populated<LeaseLeasesResponse>(v);
            yield return MessageMutator.Populated<LeaseKeepAliveResponse>(v);
        }
    }

    /// <summary>The places in <see cref="Samples"/> where a change goes unnoticed by <paramref name="comparer"/>, and how many were skipped by nature.</summary>
    private static (List<string> Missed, int ByNature, int Checked) Blind(MessageComparer comparer)
    {
        var missed = new List<string>();
        var (byNature, total) = (0, 0);
        foreach (var sample in Samples())
        {
            var leaves = MessageMutator.Leaves(sample);
            for (var i = 0; i < leaves.Count; i++)
            {
                var mutated = MessageMutator.Copy(sample);
                var path = MessageMutator.Mutate(mutated, i);
                Assert.Equal(leaves[i].Path, path);
                var diffs = comparer.Differences(sample, mutated);
                total++;
                if (leaves[i].ByNature)
                {
                    byNature++;
                    Assert.True(diffs.Count == 0, $"{sample.Descriptor.Name}.{path} differs by nature but was reported: {string.Join("; ", diffs)}");
                }
                else if (!diffs.Any(d => d.StartsWith(path + ":", StringComparison.Ordinal)))
                    missed.Add($"{sample.Descriptor.Name}.{path}");
            }
        }
        return (missed, byNature, total);
    }

    [Fact]
    public void TheComparerNoticesAChangeToAnyFieldOfAnyResponseButTheHeadersClusterMemberAndTerm()
    {
        var (missed, byNature, total) = Blind(MessageComparer.Default);
        output.WriteLine($"{total} single-field changes, {byNature} of them to cluster_id/member_id/raft_term");
        Assert.Empty(missed);
        Assert.True(byNature > 0, "no sample had a header");
        Assert.True(total > 500, $"only {total} places");
    }

    [Fact]
    public void AComparerThatSkipsAFieldIsCaught()
    {
        // Deliberately broken: a key's version is never compared.
        var broken = new MessageComparer(f => f.ContainingType.FullName == "mvccpb.KeyValue" && f.Name == "version");
        var (missed, _, _) = Blind(broken);
        Assert.NotEmpty(missed);
        Assert.All(missed, m => Assert.EndsWith(".version", m));
        Assert.Contains(missed, m => m.StartsWith("RangeResponse.kvs[", StringComparison.Ordinal));
        Assert.Contains(missed, m => m.StartsWith("WatchResponse.events[", StringComparison.Ordinal));
    }

    [EtcdFact]
    public async Task EtcdAndRaftServeAnswerTheSameSequenceAlike()
    {
        var rnd = TestSeed.NewRandom(output.WriteLine);
        var ops = Ops;
        using var dir = new TempDir();
        using var etcd = await DiffServer.StartAsync(etcd: true, host: 1, dir.Sub("etcd"));
        using var raft = await DiffServer.StartAsync(etcd: false, host: 2, dir.Sub("raft"));
        var run = new DiffRun(etcd, raft, MessageComparer.Default);
        var failure = await run.RunAsync(rnd, ops);
        var tally = string.Join(", ", run.Steps.GroupBy(s => s.Op.Kind).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()} {g.Key}"));
        output.WriteLine($"{run.Steps.Count} operations in {run.Elapsed.TotalSeconds:F1} s ({tally})");
        output.WriteLine($"{run.Known.Count} operations met a deliberate difference (README: Differential tests)");
        foreach (var (index, why) in run.Known.Take(3))
            output.WriteLine($"  operation #{index}: {why}");
        Assert.True(failure is null, failure);
        Assert.Equal(ops, run.Steps.Count);

        // The same check on a response changed in one field fails, naming the seed and the operation.
        var answered = run.Steps.Where(s => s.Raft.Any(o => o.Response is not null)).ToList();
        var step = answered[rnd.Next(answered.Count)];
        var k = step.Raft.FindIndex(o => o.Response is not null);
        var response = MessageMutator.Copy(step.Raft[k].Response!);
        var places = MessageMutator.Leaves(response).Select((l, i) => (l, i)).Where(x => !x.l.ByNature).ToList();
        var path = MessageMutator.Mutate(response, places[rnd.Next(places.Count)].i);
        var mutated = step with { Raft = [.. step.Raft[..k], step.Raft[k] with { Response = response }, .. step.Raft[(k + 1)..]] };
        var caught = run.Failure(mutated, MessageComparer.Default);
        output.WriteLine($"operation #{step.Index} with raft's {step.Raft[k].Label}.{path} changed:\n{caught}");
        Assert.NotNull(caught);
        Assert.Contains($"operation #{step.Index} ", caught);
        Assert.Contains(TestSeed.Describe, caught);
        Assert.Contains($"{step.Raft[k].Label}: {path}", caught);
    }
}
