using System.Diagnostics;
using Raft.Shell.Tests.Storage;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.PowerLoss.Process;

/// <summary>
/// The power-cut library on its own: a small C program makes each kind of change under it, synced
/// or not, and SIGKILLs itself; the cut must keep exactly what was made durable.
/// </summary>
[Collection(ProcessCollection.Name)]
public class PlfsShimTests(ITestOutputHelper output)
{
    // Each step names what a power cut must leave of it.
    private const string Program = """
        #define _GNU_SOURCE
        #include <fcntl.h>
        #include <signal.h>
        #include <stdio.h>
        #include <string.h>
        #include <sys/stat.h>
        #include <sys/uio.h>
        #include <unistd.h>
        static char p[4096];
        static const char *at(const char *root, const char *name) { snprintf(p, sizeof p, "%s/%s", root, name); return p; }
        static void fill(int fd, char c, int n, off_t off) { char b[8192]; memset(b, c, n); pwrite(fd, b, n, off); }
        int main(int argc, char **argv) {
            const char *r = argv[1];
            int a = open(at(r, "a"), O_RDWR | O_CREAT, 0644);      /* a: 1000 x A, synced */
            fill(a, 'A', 1000, 0); fdatasync(a);
            int e = open(at(r, "e"), O_RDWR | O_CREAT, 0644);      /* e: synced, later removed */
            fill(e, 'E', 10, 0); fsync(e);
            int c = open(at(r, "c"), O_RDWR | O_CREAT, 0644);      /* c: synced, later renamed */
            fill(c, 'C', 10, 0); fsync(c);
            int f = open(at(r, "f"), O_RDWR | O_CREAT, 0644);      /* f: 8 sectors of S, synced */
            fill(f, 'S', 4096, 0); fsync(f);
            int dir = open(r, O_RDONLY); fsync(dir);               /* the names a, c, e, f are durable */
            fill(a, 'B', 600, 500);                                /* lost: a stays 1000 x A */
            struct iovec iov[2] = {{"TTTT", 4}, {"TTTT", 4}};
            lseek(a, 0, SEEK_SET); writev(a, iov, 2);              /* lost */
            for (int s = 0; s < 8; s++) fill(f, 'T', 512, 512 * s); /* lost, or torn sector by sector */
            int d = open(at(r, "dsync"), O_WRONLY | O_CREAT | O_DSYNC, 0644);
            write(d, "durable", 7);                                /* durable bytes, but the name is not */
            mkdir(at(r, "sub"), 0755);                             /* lost */
            char from[4096]; snprintf(from, sizeof from, "%s/c", r);
            rename(from, at(r, "d"));                              /* lost: c is back, d gone */
            unlink(at(r, "e"));                                    /* lost: e is back */
            ftruncate(e, 0);
            kill(getpid(), SIGKILL);
            return 0;
        }
        """;

    [Fact]
    public void ACutKeepsWhatWasSyncedAndNothingElse()
    {
        using var dir = new TempDir();
        var (root, cut) = Run(Build(dir), dir.Sub("run"), tear: null);
        output.WriteLine(cut.ToString());
        Assert.Equal(new string('A', 1000), File.ReadAllText(Path.Combine(root, "a")));
        Assert.Equal(new string('S', 4096), File.ReadAllText(Path.Combine(root, "f")));
        Assert.Equal("CCCCCCCCCC", File.ReadAllText(Path.Combine(root, "c")));
        Assert.Equal("EEEEEEEEEE", File.ReadAllText(Path.Combine(root, "e")));
        Assert.False(File.Exists(Path.Combine(root, "d")));
        Assert.False(File.Exists(Path.Combine(root, "dsync")));
        Assert.False(Directory.Exists(Path.Combine(root, "sub")));
        Assert.Empty(cut.Skipped);
    }

    [Fact]
    public void ATornCutKeepsEachSectorWholeFromSomeMomentSinceTheSync()
    {
        var random = TestSeed.NewRandom(output.WriteLine);
        int mixed = 0;
        using var dir = new TempDir();
        var built = Build(dir);
        for (var i = 0; i < 6; i++)
        {
            var (root, _) = Run(built, dir.Sub($"run{i}"), new Random(random.Next()));
            var f = File.ReadAllText(Path.Combine(root, "f"));
            Assert.Equal(4096, f.Length);
            var sectors = Enumerable.Range(0, 8).Select(s => f.Substring(512 * s, 512)).ToList();
            Assert.All(sectors, s => Assert.True(s == new string('S', 512) || s == new string('T', 512), $"a sector mixes S and T ({TestSeed.Describe})"));
            if (sectors.Distinct().Count() > 1) mixed++;
        }
        // Eight independent sectors: all alike in every one of six cuts would be a broken tear.
        Assert.True(mixed > 0, $"no torn cut kept some sectors and lost others ({TestSeed.Describe})");
    }

    /// <summary>The library and the scenario program, compiled into <paramref name="dir"/>.</summary>
    private static (string Shim, string Scenario) Build(TempDir dir)
    {
        var shim = PowerCutMember.BuildShim(dir.Path);
        var source = dir.Sub("scenario.c");
        File.WriteAllText(source, Program);
        var exe = dir.Sub("scenario");
        Exec("gcc", ["-O0", "-o", exe, source], null);
        return (shim, exe);
    }

    /// <summary>Runs the scenario under the library in <paramref name="work"/>, then cuts the power.</summary>
    private static (string Root, CutReport Cut) Run((string Shim, string Scenario) built, string work, Random? tear)
    {
        var root = Path.Combine(work, "root");
        var trash = Path.Combine(work, "trash");
        var log = Path.Combine(work, "plfs.log");
        Directory.CreateDirectory(root);
        Directory.CreateDirectory(trash);
        Exec(built.Scenario, [root], new() { ["LD_PRELOAD"] = built.Shim, ["PLFS_ROOT"] = root, ["PLFS_LOG"] = log, ["PLFS_TRASH"] = trash }, expectKilled: true);
        return (root, UndoLog.Cut(root, trash, log, tear));
    }

    private static void Exec(string file, string[] args, Dictionary<string, string>? env, bool expectKilled = false)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? []) psi.Environment[k] = v;
        using var p = System.Diagnostics.Process.Start(psi)!;
        var errors = p.StandardError.ReadToEnd();
        p.WaitForExit();
        // A process killed by SIGKILL exits with 128 + 9 as .NET reports it.
        Assert.True(expectKilled ? p.ExitCode == 137 : p.ExitCode == 0, $"{file} exited {p.ExitCode}: {errors}");
    }
}
