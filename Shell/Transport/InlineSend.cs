namespace Raft.Shell.Transport;

/// <summary>
/// Whether the thread queuing messages for peers may write them out itself, when a peer's writer
/// waits for work, instead of handing them to a pool thread. The runner allows it while nothing
/// else waits for it and it had waited for work before this round: then the send (a non-blocking
/// socket write) costs less than waking a sleeping thread, which at one client is a large part of a
/// round trip between members. Under load it does not: the runner goes on with its work while a pool
/// thread sends, and a burst of Readys goes out in few flushes (sending on the runner there cost
/// 20 % more CPU per put with three members at 128 clients).
/// </summary>
internal static class InlineSend
{
    [ThreadStatic]
    private static bool t_allowed;

    /// <summary>Whether the current thread allows it.</summary>
    public static bool Allowed => t_allowed;

    /// <summary>Allows or forbids it on the current thread; forbidden unless set.</summary>
    public static void Set(bool allowed) => t_allowed = allowed;
}
