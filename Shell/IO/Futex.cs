using System.Runtime.InteropServices;

namespace Raft.Shell.IO;

/// <summary>
/// Linux's futex: a thread sleeps on a 32-bit word until another wakes it, one system call each
/// way. .NET's blocking waits on Linux go through the runtime's condition variable and mutex per
/// thread; the waker signals while it holds the mutex, so the woken thread blocks once more on the
/// mutex: two sleeps per wake-up where a futex takes one.
/// </summary>
internal static unsafe partial class Futex
{
    private const int FutexWaitPrivate = 128;
    private const int FutexWakePrivate = 129;
    private const int ETimedOut = 110;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long SysFutex(long number, int* address, int op, int value, Timespec* timeout, nint address2, int value3);

    // The system call's number differs between architectures; null where it is not known here.
    private static readonly long? Number = !OperatingSystem.IsLinux() ? null : RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 202,
        Architecture.Arm64 => 98,
        _ => null,
    };

    /// <summary>Whether futexes can be used on this platform.</summary>
    public static bool IsSupported => Number is not null;

    /// <summary>
    /// Sleeps while <c>*address == expected</c>, at most <paramref name="timeoutMilliseconds"/>
    /// (<see cref="Timeout.Infinite"/>: no limit). False when the time ran out; true otherwise,
    /// including when the word differed already, a signal interrupted the sleep, or it woke for no
    /// reason: the caller looks at the word again.
    /// </summary>
    public static bool Wait(int* address, int expected, int timeoutMilliseconds)
    {
        long rc;
        if (timeoutMilliseconds == Timeout.Infinite)
            rc = SysFutex(Number!.Value, address, FutexWaitPrivate, expected, null, 0, 0);
        else
        {
            var ts = new Timespec { Seconds = timeoutMilliseconds / 1000, Nanoseconds = timeoutMilliseconds % 1000 * 1_000_000L };
            rc = SysFutex(Number!.Value, address, FutexWaitPrivate, expected, &ts, 0, 0);
        }
        return rc == 0 || Marshal.GetLastPInvokeError() != ETimedOut;
    }

    /// <summary>Wakes one thread sleeping on <paramref name="address"/>, if any.</summary>
    public static void WakeOne(int* address) => SysFutex(Number!.Value, address, FutexWakePrivate, 1, null, 0, 0);
}
