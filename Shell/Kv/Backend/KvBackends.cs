namespace Raft.Kv.Backend;

/// <summary>Opens the store's backends.</summary>
public static partial class KvBackends
{
    /// <summary>A backend in memory without durability (<see cref="MemoryBackend"/>), for tests.</summary>
    public static IKvBackend InMemory() => new MemoryBackend();
}
