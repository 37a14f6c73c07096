using System.Reflection;
using System.Runtime.InteropServices;
using LightningDB;

namespace Raft.Kv.Backend;

/// <summary>
/// Where LightningDB's native LMDB comes from. The package's own liblmdb.so (LMDB 1.0.1) needs
/// glibc 2.38, which Debian 12 and Ubuntu 22.04 lack; there the distribution's liblmdb0 (LMDB 0.9,
/// <c>apt-get install liblmdb0</c>) is loaded instead. The two write different file formats, and
/// LMDB refuses a file of the other format on open (<see cref="LmdbBackend"/> says so in its error).
/// A checkpoint is LMDB's file by default (<see cref="LmdbFileCheckpoint"/>); members that run
/// different builds exchange the logical dump instead (<see cref="KvServiceOptions.FileCheckpoints"/>).
/// </summary>
internal static class LmdbLibrary
{
    private static int _installed;

    /// <summary>The library the system loader tries when the packaged one does not load.</summary>
    public const string SystemLibrary = "liblmdb.so.0";

    /// <summary>Installs the fallback once per process (a host's own resolver, if it set one first, wins).</summary>
    public static void Install()
    {
        if (Interlocked.Exchange(ref _installed, 1) == 1) return;
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(LightningEnvironment).Assembly, Resolve);
        }
        catch (InvalidOperationException)
        {
            // The host resolves LightningDB's native library itself.
        }
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != "lmdb") return IntPtr.Zero;
        if (NativeLibrary.TryLoad(name, assembly, searchPath, out var packaged)) return packaged;
        return NativeLibrary.TryLoad(SystemLibrary, out var system) ? system : IntPtr.Zero;
    }
}
