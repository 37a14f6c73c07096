using Raft.Kv.Backend;

namespace Raft.Tests.WalCrashChild;

/// <summary>
/// <c>kv-install DIR CHECKPOINT...</c>: installs the checkpoint files into the backend's directory
/// DIR in turn, forever (as a follower installs the file the leader sent), printing
/// <c>installed N</c> once the N-th install has returned. The files themselves are never changed.
/// </summary>
internal static class KvInstallLoop
{
    public static int Run(string dir, string[] checkpoints)
    {
        for (var n = 0L; ; n++)
        {
            KvBackends.InstallCheckpointFileAsync(dir, checkpoints[n % checkpoints.Length], ulong.MaxValue, CancellationToken.None).GetAwaiter().GetResult();
            Console.WriteLine($"installed {n}");
        }
    }
}
