using Raft.Shell.Node;

namespace Raft.Shell.Tests.Node;

/// <summary>
/// The runner's and the apply loop's wake-up (a futex on Linux): a set is never lost between a
/// waiter's look at its condition and its sleep, a wait ends on time, on a set or on cancellation,
/// and a notify slot's take ends only on its post though the queue shares the event.
/// </summary>
public class WakeEventTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(20);

    [Fact]
    public void ASetBeforeTheWaitEndsItAtOnceUntilReset()
    {
        var e = new WakeEvent();
        e.Set();
        Assert.True(e.Wait(Timeout.Infinite));
        Assert.True(e.IsSet);
        e.Reset();
        Assert.False(e.IsSet);
        Assert.False(e.Wait(50));
        Assert.False(e.Wait(0));
    }

    [Fact]
    public async Task ASetFromAnotherThreadEndsAWaitThatWouldLastForever()
    {
        var e = new WakeEvent();
        var wait = Task.Factory.StartNew(() => e.Wait(Timeout.Infinite), TaskCreationOptions.LongRunning);
        await Task.Delay(50);
        Assert.False(wait.IsCompleted);
        e.Set();
        Assert.True(await wait.WaitAsync(Long));
    }

    [Fact]
    public async Task ATimedWaitEndsTrueWhenSetMeanwhile()
    {
        var e = new WakeEvent();
        var wait = Task.Factory.StartNew(() => e.Wait(60_000), TaskCreationOptions.LongRunning);
        await Task.Delay(50);
        e.Set();
        Assert.True(await wait.WaitAsync(Long));
    }

    [Fact]
    public async Task CancellationEndsAWait()
    {
        var e = new WakeEvent();
        using var cts = new CancellationTokenSource();
        var wait = Task.Factory.StartNew(() => e.Wait(cts.Token), TaskCreationOptions.LongRunning);
        await Task.Delay(50);
        Assert.False(wait.IsCompleted);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(Long));
    }

    [Fact]
    public async Task TwoThreadsHandingATurnBackAndForthNeverLoseAWakeUp()
    {
        // Each side: reset, look at the turn, sleep. A set lost between the look and the sleep
        // leaves both asleep for good, and the test times out.
        const int Turns = 20_000;
        var wakes = new[] { new WakeEvent(), new WakeEvent() };
        var turn = 0;
        Task Side(int me) => Task.Factory.StartNew(() =>
        {
            while (true)
            {
                wakes[me].Reset();
                var t = Volatile.Read(ref turn);
                if (t >= Turns) return;
                if (t % 2 != me)
                {
                    wakes[me].Wait(Timeout.Infinite);
                    continue;
                }
                Volatile.Write(ref turn, t + 1);
                wakes[1 - me].Set();
            }
        }, TaskCreationOptions.LongRunning);
        await Task.WhenAll(Side(0), Side(1)).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(Turns, turn);
    }

    [Fact]
    public async Task ANotifyTakeWaitsForItsPostThoughTheSharedEventIsSetForSomethingElse()
    {
        var wake = new WakeEvent();
        var slot = new NotifySlot();
        var take = Task.Factory.StartNew(() => slot.Take(wake, CancellationToken.None), TaskCreationOptions.LongRunning);
        await Task.Delay(50);
        // The apply queue's item arrives meanwhile: the take looks again and goes on waiting.
        wake.Set();
        await Task.Delay(50);
        Assert.False(take.IsCompleted);
        Assert.True(slot.TryPost());
        await take.WaitAsync(Long);
        // Taken: the slot is empty again and takes one more post.
        Assert.False(slot.TryTakeNow());
        Assert.True(slot.TryPost());
        Assert.False(slot.TryPost());
    }
}
