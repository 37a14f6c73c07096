using Raft.Core;
using Raft.Interop.Wire;
using Raft.Shell.Storage;
using Raft.Shell.Wal;

namespace Raft.Tests.WalCrashChild;

/// <summary>
/// <c>save DIR SEGMENT_BYTES SEED</c>: opens (or creates) the storage in DIR and saves batches of
/// entries forever, printing <c>saved N</c> once the batch ending at index N is durable.
/// <c>open DIR</c>: tries to open the storage and prints <c>opened</c> or <c>error KIND</c>.
/// <c>kv DIR</c>: commits key-value backend batches forever (<see cref="KvCommitLoop"/>).
/// <c>kv-install DIR CHECKPOINT...</c>: installs checkpoint files in turn forever (<see cref="KvInstallLoop"/>).
/// <c>node DIR STORE PEER_URL COMMIT_EVERY PREFIX</c>: runs a one-member cluster over a
/// file-backed persistent state machine in STORE and proposes PREFIX0, PREFIX1, ... forever,
/// printing <c>acked NAME</c> once each is applied.
/// </summary>
internal static class Program
{
    /// <summary>The payload every writer and checker agrees on for an entry index.</summary>
    public static byte[] Payload(ulong index) => Enumerable.Range(0, 100).Select(i => (byte)(index * 7 + (ulong)i)).ToArray();

    private static int Main(string[] args)
    {
        var dir = args[1];
        switch (args[0])
        {
            case "kv":
                return KvCommitLoop.Run(dir);
            case "kv-install":
                return KvInstallLoop.Run(dir, args[2..]);
            case "open":
                try
                {
                    var (s, _) = NodeStorage.Restart(dir);
                    Console.WriteLine("opened");
                    s.Close();
                    return 0;
                }
                catch (WalException ex)
                {
                    Console.WriteLine($"error {ex.Kind}");
                    return 3;
                }
            case "save":
                var options = new WalOptions { SegmentSizeBytes = long.Parse(args[2]) };
                var rng = new Random(int.Parse(args[3]));
                NodeStorage storage;
                ulong last;
                if (NodeStorage.Exists(dir))
                {
                    (storage, var st) = NodeStorage.Restart(dir, options);
                    last = st.Entries.Length > 0 ? st.Entries[^1].Index : 0;
                }
                else
                {
                    storage = NodeStorage.Create(dir, new WalMetadata(1, 1), options);
                    last = 0;
                }
                Console.WriteLine($"start {last}");
                while (true)
                {
                    var n = (ulong)rng.Next(1, 20);
                    var batch = new Entry[n];
                    for (ulong i = 0; i < n; i++) batch[i] = new Entry(1, last + 1 + i, EntryType.EntryNormal, Payload(last + 1 + i));
                    storage.Save(new HardState(1, 1, last + n), batch);
                    last += n;
                    Console.WriteLine($"saved {last}");
                }
            case "node":
                return RunNode(dir, args[2], args[3], int.Parse(args[4]), args[5]).GetAwaiter().GetResult();
            default:
                Console.Error.WriteLine("usage: save DIR SEGMENT_BYTES SEED | open DIR | kv DIR | node DIR STORE PEER_URL COMMIT_EVERY PREFIX");
                return 2;
        }
    }

    private static async Task<int> RunNode(string dir, string store, string peerUrl, int commitEvery, string prefix)
    {
        var sm = new Raft.Shell.Tests.Node.FileStateMachine(store, commitEvery);
        var options = Raft.Shell.Tests.Node.CrashMemberOptions.For(dir, peerUrl);
        await using var node = await Raft.Shell.Node.RaftNode.StartAsync(options, sm);
        await node.WhenReadyAsync();
        Console.WriteLine("ready");
        for (var i = 0; ; i++)
        {
            var name = $"{prefix}{i}";
            await node.ProposeAsync(System.Text.Encoding.UTF8.GetBytes(name));
            Console.WriteLine($"acked {name}");
        }
    }
}
