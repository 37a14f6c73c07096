using System.Diagnostics;
using System.Text;
using System.Xml.Linq;

namespace Raft.Shell.Tests.Samples;

/// <summary>
/// The repository's packages packed into a temporary folder feed (from the build the tests run on,
/// under a version of their own), and a copy of samples/ whose nuget.config points at that feed.
/// A version of their own keeps NuGet's package cache from answering with an earlier pack; the
/// cached copies of that version are removed on dispose.
/// </summary>
public sealed class PackedSamples : IDisposable
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif
    private static readonly string[] PackageIds = ["Raft.Core", "Raft.Interop", "Raft.Node", "Raft.KeyValue.AspNetCore", "Raft.Tool"];

    public PackedSamples()
    {
        RepositoryRoot = FindRepositoryRoot();
        Root = Path.Combine(Path.GetTempPath(), "raft-samples-" + Guid.NewGuid().ToString("N")[..12]);
        Feed = Path.Combine(Root, "feed");
        Samples = Path.Combine(Root, "samples");
        Directory.CreateDirectory(Feed);
        var suffix = $"samples.{DateTime.UtcNow:yyyyMMddHHmmss}.{Random.Shared.Next(1000, 9999)}";
        Version = $"{VersionPrefix(Path.Combine(RepositoryRoot, "Directory.Build.props"))}-{suffix}";
        // --no-build: the packages hold the assemblies this test run was built from, and the
        // projects' outputs (which other tests run) are left alone.
        Pack = Dotnet(RepositoryRoot, TimeSpan.FromMinutes(3), "pack", Path.Combine(RepositoryRoot, "Raft.sln"), "-c", Configuration, "--no-build",
            "-o", Feed, $"-p:VersionSuffix={suffix}");
        CopyDirectory(Path.Combine(RepositoryRoot, "samples"), Samples);
        var config = Path.Combine(Samples, "nuget.config");
        File.WriteAllText(config, File.ReadAllText(config).Replace("../artifacts/packages", Feed, StringComparison.Ordinal));
    }

    public string RepositoryRoot { get; }

    public string Root { get; }

    public string Feed { get; }

    public string Samples { get; }

    /// <summary>The version the packages were packed with.</summary>
    public string Version { get; }

    /// <summary>The pack command's result.</summary>
    public (int Exit, string Output) Pack { get; }

    /// <summary>Builds the sample project in folder <paramref name="name"/> into its own output folder; returns that folder.</summary>
    public (int Exit, string Output, string OutputDir) Build(string name)
    {
        var output = Path.Combine(Root, "out", name);
        var (exit, text) = Dotnet(Samples, TimeSpan.FromMinutes(3), "build", Path.Combine(Samples, name), "-c", "Release", "-o", output, $"-p:RaftVersion={Version}");
        return (exit, text, output);
    }

    public static string VersionPrefix(string propsFile) =>
        XDocument.Load(propsFile).Descendants("VersionPrefix").Single().Value;

    /// <summary>Runs dotnet with <paramref name="args"/> to its end; its output is standard output and error together.</summary>
    public static (int Exit, string Output) Dotnet(string workingDirectory, TimeSpan timeout, params string[] args)
    {
        var psi = DotnetStartInfo(workingDirectory, args);
        using var process = new Process { StartInfo = psi };
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            lock (output) return (-1, $"timed out after {timeout}:\n{output}");
        }
        process.WaitForExit();
        lock (output) return (process.ExitCode, output.ToString());
    }

    /// <summary>A dotnet command line with the test host's MSBuild and test platform variables removed, so it builds as from a shell.</summary>
    public static ProcessStartInfo DotnetStartInfo(string workingDirectory, IEnumerable<string> args)
    {
        var self = Environment.ProcessPath;
        var dotnet = self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
        var psi = new ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        foreach (var key in psi.Environment.Keys.ToArray())
            if (key.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || key.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase))
                psi.Environment.Remove(key);
        // No build servers or reused build nodes outlive the command (they would hold its output pipes).
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        psi.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        psi.Environment["UseSharedCompilation"] = "false";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        return psi;
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Raft.sln")))
                return dir.FullName;
        throw new InvalidOperationException($"no Raft.sln above {AppContext.BaseDirectory}");
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var dir in Directory.GetDirectories(from))
            if (Path.GetFileName(dir) is not ("bin" or "obj"))
                CopyDirectory(dir, Path.Combine(to, Path.GetFileName(dir)));
    }

    public void Dispose()
    {
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p
            ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var id in PackageIds)
        {
            var idDir = Path.Combine(cache, id.ToLowerInvariant());
            TryDelete(Path.Combine(idDir, Version.ToLowerInvariant()));
            if (Directory.Exists(idDir) && !Directory.EnumerateFileSystemEntries(idDir).Any())
                TryDelete(idDir);
        }
        TryDelete(Root);
    }

    private static void TryDelete(string dir)
    {
        try
        {
            if (Directory.Exists(dir))
                Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a process that outlived its test may still hold a file.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
