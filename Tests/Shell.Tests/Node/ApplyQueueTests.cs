using Raft.Shell.Node;

namespace Raft.Shell.Tests.Node;

/// <summary>
/// The apply loop's queue: a wake ends the reader's wait with no item (the loop then sends a
/// waiting MsgSnap), without losing or reordering items.
/// </summary>
public class ApplyQueueTests
{
    [Fact]
    public void AWakeBeforeTheTakeEndsItAtOnceAndOnlyOnce()
    {
        var q = new ApplyQueue<int>();
        q.Wake();
        Assert.False(q.TryTake(out _, Timeout.Infinite));
        // The wake is used up: the next take waits for its time.
        Assert.False(q.TryTake(out _, 50));
    }

    [Fact]
    public async Task AWakeEndsAWaitThatWouldLastForever()
    {
        var q = new ApplyQueue<int>();
        var take = Task.Factory.StartNew(() => q.TryTake(out _, Timeout.Infinite), TaskCreationOptions.LongRunning);
        await Task.Delay(50);
        Assert.False(take.IsCompleted);
        q.Wake();
        Assert.False(await take.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void ItemsComeBeforeAWakeAndInOrder()
    {
        var q = new ApplyQueue<int>();
        q.TryAdd(1);
        q.Wake();
        q.TryAdd(2);
        Assert.True(q.TryTake(out var a, 0));
        Assert.True(q.TryTake(out var b, 0));
        Assert.Equal((1, 2), (a, b));
        Assert.False(q.TryTake(out _, Timeout.Infinite));
    }
}
