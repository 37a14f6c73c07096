using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Raft.Shell.IO;

/// <summary>
/// The few Linux system calls .NET does not expose: fdatasync, fallocate, open-file-description
/// locks, fsync of a directory, hard links, O_DIRECT files, and madvise.
/// </summary>
internal static partial class Native
{
    private const int FOfdSetLk = 37;
    private const short FWrLck = 1;
    private const int EIntr = 4;
    private const int EAgain = 11;
    private const int EAcces = 13;
    private const int EOpNotSupp = 95;

    // struct flock on 64-bit Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid.
    [StructLayout(LayoutKind.Sequential)]
    private struct Flock
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Len;
        public int Pid;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fdatasync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fallocate(int fd, int mode, long offset, long len);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int cmd, ref Flock flock);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int madvise(nint addr, nuint length, int advice);

    private const int MadvDontNeed = 4;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int link(string existing, string created);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int openMode(string path, int flags, int mode);

    private const int OWrOnly = 0x1, OCreat = 0x40, OTrunc = 0x200, OCloExec = 0x80000;

    // O_DIRECT differs between architectures.
    private static int? ODirect => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 => 0x4000,
        Architecture.Arm64 or Architecture.Arm => 0x10000,
        _ => null,
    };

    /// <summary>
    /// Creates (or truncates) a file for writing with O_DIRECT: writes go from the caller's buffer
    /// to the device without passing through the page cache. Null where the platform or the file
    /// system does not offer it (the caller then writes through the page cache).
    /// </summary>
    public static SafeFileHandle? TryCreateDirect(string path)
    {
        if (ODirect is not { } direct) return null;
        var fd = openMode(path, OWrOnly | OCreat | OTrunc | OCloExec | direct, 0b110_100_100);
        return fd < 0 ? null : new SafeFileHandle(fd, ownsHandle: true);
    }

    private static T WithFd<T>(SafeFileHandle handle, Func<int, T> call)
    {
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            return call((int)handle.DangerousGetHandle());
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    private static IOException Error(string what, string path, int errno) =>
        new($"{what} {path}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");

    /// <summary>Flushes the file's data (and the metadata needed to read it back) to the device.</summary>
    public static void Fdatasync(SafeFileHandle handle, string path)
    {
        int rc;
        do rc = WithFd(handle, fdatasync);
        while (rc != 0 && Marshal.GetLastPInvokeError() == EIntr);
        if (rc != 0) throw Error("fdatasync", path, Marshal.GetLastPInvokeError());
    }

    /// <summary>
    /// Allocates <paramref name="size"/> bytes and extends the file to that length, zero-filled
    /// (fallocate mode 0, etcd's Preallocate with extendFile). Where the file system cannot, the
    /// file is extended sparsely instead.
    /// </summary>
    public static void Preallocate(SafeFileHandle handle, string path, long size)
    {
        if (size == 0) return;
        var rc = WithFd(handle, fd => fallocate(fd, 0, 0, size));
        if (rc == 0) return;
        var errno = Marshal.GetLastPInvokeError();
        if (errno is EOpNotSupp or EIntr)
        {
            if (RandomAccess.GetLength(handle) < size) RandomAccess.SetLength(handle, size);
            return;
        }
        throw Error("fallocate", path, errno);
    }

    /// <summary>
    /// Takes an exclusive open-file-description lock on the whole file without waiting (etcd's
    /// TryLockFile). Such a lock conflicts with any other open of the file, in this process or
    /// another, and goes away when the handle is closed.
    /// </summary>
    /// <returns>False when another open file description holds a conflicting lock.</returns>
    public static bool TryLock(SafeFileHandle handle, string path)
    {
        var fl = new Flock { Type = FWrLck, Whence = 0, Start = 0, Len = 0, Pid = 0 };
        var rc = WithFd(handle, fd => fcntl(fd, FOfdSetLk, ref fl));
        if (rc == 0) return true;
        var errno = Marshal.GetLastPInvokeError();
        if (errno is EAgain or EAcces) return false;
        throw Error("fcntl(F_OFD_SETLK)", path, errno);
    }

    /// <summary>
    /// madvise(MADV_DONTNEED) over [<paramref name="address"/>, +<paramref name="length"/>): the
    /// process drops those pages. For a shared file mapping they stay in the page cache and a later
    /// access maps them again; false when the kernel refused (the range is not mapped).
    /// </summary>
    public static bool DontNeed(nint address, long length) => madvise(address, (nuint)length, MadvDontNeed) == 0;

    /// <summary>fsyncs a directory so that renames, creations and removals in it are durable.</summary>
    public static void FsyncDirectory(string path)
    {
        var fd = open(path, 0);
        if (fd < 0) throw Error("open", path, Marshal.GetLastPInvokeError());
        try
        {
            if (fsync(fd) != 0) throw Error("fsync", path, Marshal.GetLastPInvokeError());
        }
        finally
        {
            close(fd);
        }
    }

    /// <summary>
    /// Gives the file <paramref name="existing"/> a second name, <paramref name="created"/> (link(2)):
    /// no data is copied. False where the file system cannot (another device, no hard links).
    /// </summary>
    public static bool TryHardLink(string existing, string created) => link(existing, created) == 0;
}
