using System.Text;
using Raft.Kv;
using Raft.Kv.Backend;
using Raft.Kv.Codec;
using Raft.Kv.Mvcc;

namespace Raft.Shell.Tests.Kv;

/// <summary>
/// A lagging follower installing the leader's checkpoint disposes its store seconds before the new
/// one is in place; local reads in that window answered HTTP 500 (found by the catch-up bench).
/// They now wait for the new store and read it.
/// </summary>
public class StoreReplacementReadTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static Task<(object? Result, string? Error)> ReadAsync(KvStateMachine sm) =>
        sm.ReadAcrossReplacementAsync<object, string>(() => sm.Range(new RangeRequest(B("k"))), async replaced =>
        {
            await replaced.WaitAsync(TimeSpan.FromSeconds(30));
            return null;
        });

    [Fact]
    public async Task AReadDuringAReplacementWaitsAndReadsTheNewStore()
    {
        var sm = new KvStateMachine(backend: KvBackends.InMemory());
        sm.Apply(1, KvCommandCodec.Encode(new PutRequest(B("k"), B("old"))));
        // As InstallCheckpoint: marked, the old store disposed, the new one loaded later.
        sm.BeginReplace();
        sm.Store.Dispose();
        var read = ReadAsync(sm);
        await Task.Delay(200);
        Assert.False(read.IsCompleted, "the read did not wait for the new store");

        // The installed checkpoint's content, written through a store left open (disposing it would
        // close the backend the machine takes over; without a batch interval it has no timer).
        var replacement = KvBackends.InMemory();
        var fresh = new MvccStore(replacement, new MvccStoreOptions { BatchInterval = TimeSpan.Zero });
        using (var txn = fresh.Write(5))
            txn.Put(B("k"), B("new"), 0);
        fresh.Commit();
        sm.ReplaceStore(replacement);
        var (result, error) = await read.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Null(error);
        var kv = Assert.Single(Assert.IsType<RangeResponse>(result).Kvs);
        Assert.Equal("new", Encoding.UTF8.GetString(kv.Value.Span));
        Assert.Null(sm.StoreReplacement);
    }

    [Fact]
    public async Task AStoreDisposedForGoodStillFailsTheRead()
    {
        // The wait is only for a replacement: a member stopping does not leave reads waiting.
        var sm = new KvStateMachine(backend: KvBackends.InMemory());
        sm.Store.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => ReadAsync(sm));
    }
}
