using System.Net;
using System.Net.Sockets;
using Raft.Shell.Node;
using Raft.Shell.Tests.Storage;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Node;

/// <summary>
/// A member over the file-backed persistent state machine, in a process of its own, SIGKILLed
/// while it applies and acknowledges proposals, at seeded moments, three times over. The store's
/// applied index is never ahead of the data it describes (a restart would skip entries: an
/// acknowledged command missing) nor behind it (a restart would apply entries again: a command
/// twice).
/// </summary>
public class PersistentCrashTests(ITestOutputHelper output)
{
    private static int FreePort(IPAddress address) => FreePorts.On(address.ToString());

    [Fact]
    public async Task AfterSigkillTheStoreHoldsEveryAcknowledgedCommandOnceAndInOrder()
    {
        var random = TestSeed.NewRandom(output.WriteLine);
        using var dir = new TempDir();
        var data = dir.Sub("data");
        var store = dir.Sub("store");
        var address = IPAddress.Parse("127.0.5.21");
        var url = $"http://{address}:{FreePort(address)}";
        var acked = new List<string>();
        for (var round = 0; round < 3; round++)
        {
            var commitEvery = random.Next(1, 8);
            var target = random.Next(20, 120);
            var prefix = $"r{round}-";
            var mine = 0;
            using (var p = ChildProcess.Start("node", data, store, url, commitEvery.ToString(), prefix))
            using (ChildProcess.KillOnDispose(p))
            {
                while (mine < target)
                {
                    var line = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
                    if (line is null)
                        Assert.Fail($"the member exited: {await p.StandardError.ReadToEndAsync()}");
                    if (!line.StartsWith("acked ", StringComparison.Ordinal))
                        continue;
                    acked.Add(line["acked ".Length..]);
                    mine++;
                }
                p.Kill(); // SIGKILL on Linux
                await p.WaitForExitAsync();
                // What it acknowledged between the last line read and the kill.
                foreach (var line in (await p.StandardOutput.ReadToEndAsync()).Split('\n'))
                {
                    if (line.StartsWith("acked ", StringComparison.Ordinal))
                    {
                        acked.Add(line["acked ".Length..].TrimEnd('\r'));
                        mine++;
                    }
                }
            }
            output.WriteLine($"round {round}: commit every {commitEvery}, killed after {mine} acknowledgements");

            // What the store kept is one commit: a prefix of the commands in the order applied.
            var (applied, items) = FileStateMachine.Load(Path.Combine(store, "store.dat"));
            var next = $"{prefix}{mine}";
            var order = acked.Append(next).ToList();
            Assert.True(items.Count <= order.Count && items.SequenceEqual(order.Take(items.Count)),
                $"the store holds [{string.Join(",", items.TakeLast(5))}] at {applied}, not a prefix of what was applied ({TestSeed.Describe})");

            // Restarted from it, the member applies exactly what the store lacks.
            var sm = new FileStateMachine(store, commitEvery);
            var options = CrashMemberOptions.For(data, url);
            await using (var node = await RaftNode.StartAsync(options, sm))
            {
                await node.WhenReadyAsync().WaitAsync(TimeSpan.FromSeconds(30));
                var after = sm.Items;
                Assert.True(after.Distinct().Count() == after.Count, $"a command applied twice ({TestSeed.Describe})");
                // Every acknowledged command, in order; at most the one in flight at the kill besides.
                Assert.True(after.SequenceEqual(acked) || after.SequenceEqual(order),
                    $"after the restart: {after.Count} commands, {acked.Count} acknowledged; last [{string.Join(",", after.TakeLast(3))}] ({TestSeed.Describe})");
                Assert.All(sm.ApplyCalls, i => Assert.True(i > sm.DurableAppliedIndex));
                if (after.Count == order.Count)
                    acked.Add(next);
            }
        }
    }
}
