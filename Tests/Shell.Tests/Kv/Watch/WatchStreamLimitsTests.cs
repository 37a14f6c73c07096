using Raft.Kv.Backend;
using Raft.Kv.Mvcc;
using Raft.Kv.Watch;

namespace Raft.Shell.Tests.Kv.Watch;

/// <summary>The hub's per-stream and per-connection bounds, without sockets.</summary>
public sealed class WatchStreamLimitsTests
{
    private static WatchSpec Key(string k) => new(System.Text.Encoding.UTF8.GetBytes(k), ReadOnlyMemory<byte>.Empty, 0);

    [Fact]
    public async Task AStreamWithSixteenUnreadControlAnswersWaitsUntilOneIsRead()
    {
        using var store = new MvccStore(KvBackends.InMemory(), new MvccStoreOptions { BatchInterval = TimeSpan.Zero });
        using var hub = new WatcherHub(store, new WatchOptions());
        using var stream = hub.OpenStream("c1");
        for (var i = 0; i < 16; i++)
        {
            await stream.WaitForControlRoomAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
            stream.Watch(Key($"k{i}"));
        }
        Assert.Equal(16, stream.QueuedControl);
        var waiting = stream.WaitForControlRoomAsync(CancellationToken.None);
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted, "a 17th request was read with 16 answers unread");
        Assert.True(stream.TryRead(out var first));
        Assert.Equal(WatchBatchKind.Created, first.Kind);
        await waiting.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void WatchersCountPerConnectionAcrossStreamsAndAreFreedWithTheirStream()
    {
        using var store = new MvccStore(KvBackends.InMemory(), new MvccStoreOptions { BatchInterval = TimeSpan.Zero });
        using var hub = new WatcherHub(store, new WatchOptions { MaxWatchesPerConnection = 3 });
        var a = hub.OpenStream("c1");
        using var b = hub.OpenStream("c1");
        using var other = hub.OpenStream("c2");
        a.Watch(Key("1"));
        a.Watch(Key("2"));
        b.Watch(Key("3"));
        b.Watch(Key("4"));
        other.Watch(Key("5"));
        bool Refused(WatchStream s)
        {
            WatchBatch last = null!;
            while (s.TryRead(out var batch)) last = batch;
            return last.CancelReason is not null;
        }
        Assert.True(Refused(b), "a fourth watcher on c1 was created");
        Assert.False(Refused(other));
        a.Dispose();
        b.Watch(Key("6"));
        Assert.False(Refused(b));
        Assert.Equal(3, hub.SyncedCount);
    }
}
