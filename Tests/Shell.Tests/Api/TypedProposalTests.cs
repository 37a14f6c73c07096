using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Raft.Interop;
using Raft.Shell.Hosting;

namespace Raft.Shell.Tests.Api;

public class TypedProposalTests
{
    public sealed record Add(string Key, int Amount);

    /// <summary>Sums amounts per key; Apply returns the key's new total.</summary>
    private class Counters : IStateMachine<Add, int>
    {
        public Dictionary<string, int> Totals { get; private set; } = new(StringComparer.Ordinal);

        public List<ulong> Indexes { get; } = [];

        public int Apply(ulong index, Add command)
        {
            Indexes.Add(index);
            Totals[command.Key] = Totals.GetValueOrDefault(command.Key) + command.Amount;
            return Totals[command.Key];
        }

        public byte[] TakeSnapshot() => System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(Totals);

        public void Restore(ReadOnlyMemory<byte> snapshot) =>
            Totals = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, int>>(snapshot.Span)!;
    }

    private sealed class CapturingCounters : Counters, ISnapshotCapture
    {
        public int Captures { get; private set; }

        public Func<byte[]> CaptureSnapshot()
        {
            Captures++;
            var copy = new Dictionary<string, int>(Totals);
            return () => System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(copy);
        }
    }

    /// <summary>A node that answers every proposal with a fixed result, for the result checks.</summary>
    private sealed class AnsweringNode(object? answer) : IRaftNode
    {
        public List<byte[]> Proposed { get; } = [];
        public ulong MemberId => 1;
        public ulong ClusterId => 1;
        public IReadOnlyList<Member> Members => [];
        public NodeStatus Status => new(1, 1, 1, 0, 1, NodeRole.Leader, 0, 0, 0, false);
        public event EventHandler<LeaderChangedEventArgs>? LeaderChanged { add { } remove { } }

        public Task<object?> ProposeAsync(ReadOnlyMemory<byte> command, CancellationToken cancellationToken = default)
        {
            Proposed.Add(command.ToArray());
            return Task.FromResult(answer);
        }

        public Task ReadIndexAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;
        public Task<Member> AddMemberAsync(IReadOnlyList<string> peerUrls, bool isLearner, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task RemoveMemberAsync(ulong memberId, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task PromoteMemberAsync(ulong memberId, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task UpdateMemberAsync(ulong memberId, IReadOnlyList<string> peerUrls, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task TransferLeadershipAsync(ulong transferee, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }

    private static readonly JsonCommandCodec<Add> Codec = new();

    [Fact]
    public void TheAdapterDecodesEachCommandAndReturnsTheTypedResult()
    {
        var counters = new Counters();
        var sm = TypedStateMachine.Create(counters, Codec);
        Assert.Equal(2, sm.Apply(5, Codec.Encode(new Add("a", 2))));
        Assert.Equal(5, sm.Apply(7, Codec.Encode(new Add("a", 3))));
        Assert.Equal(-1, sm.Apply(8, Codec.Encode(new Add("b", -1))));
        Assert.Equal([5UL, 7, 8], counters.Indexes);

        var other = new Counters();
        var copy = TypedStateMachine.Create(other, Codec);
        copy.Restore(sm.TakeSnapshot());
        Assert.Equal(counters.Totals, other.Totals);
    }

    [Fact]
    public void TheAdapterCapturesSnapshotsExactlyWhenTheTypedMachineDoes()
    {
        Assert.IsNotAssignableFrom<ISnapshotCapture>(TypedStateMachine.Create(new Counters(), Codec));
        var capturing = new CapturingCounters();
        var sm = TypedStateMachine.Create(capturing, Codec);
        var capture = Assert.IsAssignableFrom<ISnapshotCapture>(sm);
        sm.Apply(1, Codec.Encode(new Add("k", 4)));
        var serialize = capture.CaptureSnapshot();
        sm.Apply(2, Codec.Encode(new Add("k", 1)));
        Assert.Equal(1, capturing.Captures);
        // The serialized state is the captured one, not the state after the later apply.
        var restored = new Counters();
        restored.Restore(serialize());
        Assert.Equal(4, restored.Totals["k"]);
    }

    [Fact]
    public async Task ATypedProposalSendsTheEncodedCommandAndReturnsTheResult()
    {
        var node = new AnsweringNode(42);
        var typed = new RaftNode<Add, int>(node, Codec);
        Assert.Equal(42, await typed.ProposeAsync(new Add("x", 1)));
        Assert.Equal(new Add("x", 1), Codec.Decode(node.Proposed.Single()));
        Assert.Equal(42, await node.ProposeAsync<Add, int>(new Add("y", 2), Codec));
    }

    [Fact]
    public async Task AResultOfAnotherTypeIsAnErrorThatNamesBothTypes()
    {
        var ex = await Assert.ThrowsAsync<InvalidCastException>(() => new AnsweringNode("text").ProposeAsync<Add, int>(new Add("x", 1), Codec));
        Assert.Contains(typeof(string).FullName!, ex.Message);
        Assert.Contains(typeof(int).FullName!, ex.Message);
        // null is a result only for a type that admits it.
        await Assert.ThrowsAsync<InvalidCastException>(() => new AnsweringNode(null).ProposeAsync<Add, int>(new Add("x", 1), Codec));
        Assert.Null(await new AnsweringNode(null).ProposeAsync<Add, string?>(new Add("x", 1), Codec));
        Assert.Null(await new AnsweringNode(null).ProposeAsync<Add, int?>(new Add("x", 1), Codec));
    }

    [Fact]
    public async Task AHostedTypedNodeReturnsTypedResultsFromItsStateMachine()
    {
        using var dir = new TempDir();
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Raft:Name"] = "typed",
            ["Raft:DataDir"] = dir.Path,
            ["Raft:HeartbeatIntervalMs"] = "10",
            ["Raft:ElectionTimeoutMs"] = "100",
            ["Raft:ListenPeerUrls"] = "http://127.0.0.1:0",
        });
        var counters = new Counters();
        builder.Services.AddSingleton<IStateMachine<Add, int>>(counters);
        builder.Services.AddRaftNode<Add, int>(Codec);
        using var host = builder.Build();
        await host.StartAsync();
        var node = host.Services.GetRequiredService<RaftNode<Add, int>>();
        Assert.Equal(3, await node.ProposeAsync(new Add("a", 3)));
        Assert.Equal(10, await node.ProposeAsync(new Add("a", 7)));
        Assert.Equal(1, await node.ProposeAsync(new Add("b", 1)));
        await node.ReadIndexAsync();
        Assert.Equal(10, counters.Totals["a"]);
        await host.StopAsync();
    }
}
