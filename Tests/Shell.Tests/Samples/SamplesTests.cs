using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Raft.Shell.Tests.Storage;
using Xunit.Abstractions;

namespace Raft.Shell.Tests.Samples;

/// <summary>
/// samples/ as a user builds them: against the packed packages from a local folder feed (and the
/// machine's usual NuGet source for everything else), then run as real processes.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class SamplesTests(PackedSamples packed, ITestOutputHelper log) : IClassFixture<PackedSamples>
{
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(30);

    [Fact]
    public void EveryPackageIsPackedWithTheOneVersionAndTheSamplesDefaultToIt()
    {
        Assert.True(packed.Pack.Exit == 0, packed.Pack.Output);
        var packages = Directory.GetFiles(packed.Feed, "*.nupkg").Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(
            new[] { "Raft.Core", "Raft.Interop", "Raft.KeyValue.AspNetCore", "Raft.Node", "Raft.Testing", "Raft.Tool" }.Select(id => $"{id}.{packed.Version}.nupkg"),
            packages);
        Assert.All(packages, p => Assert.True(File.Exists(Path.Combine(packed.Feed, Path.ChangeExtension(p!, ".snupkg"))), $"no symbols for {p}"));
        // A user copying a sample gets the version the repository packs.
        var samplesVersion = System.Xml.Linq.XDocument.Load(Path.Combine(packed.Samples, "Directory.Build.props")).Descendants("RaftVersion").Single().Value;
        Assert.Equal(PackedSamples.VersionPrefix(Path.Combine(packed.RepositoryRoot, "Directory.Build.props")), samplesVersion);
    }

    [Fact]
    public async Task TheConsoleSampleReplicatesAcrossThreeProcesses()
    {
        Assert.True(packed.Pack.Exit == 0, packed.Pack.Output);
        var (exit, output, dir) = packed.Build("ReplicatedDictionary.Console");
        Assert.True(exit == 0, output);
        var dll = Path.Combine(dir, "ReplicatedDictionary.Console.dll");
        // No web framework: the console host runs on the base runtime alone.
        Assert.DoesNotContain("Microsoft.AspNetCore", File.ReadAllText(Path.ChangeExtension(dll, ".runtimeconfig.json")));

        var names = new[] { "n1", "n2", "n3" };
        var peers = names.Select(_ => $"http://127.0.0.1:{FreePort()}").ToArray();
        var cluster = string.Join(",", names.Select((n, i) => $"{n}={peers[i]}"));
        var members = names.Select((n, i) => SampleProcess.Start(dll, packed.Root,
            $"--Raft:Name={n}", $"--Raft:DataDir={Path.Combine(packed.Root, "data", n)}",
            $"--Raft:ListenPeerUrls={peers[i]}", $"--Raft:InitialAdvertisePeerUrls={peers[i]}",
            $"--Raft:InitialCluster={cluster}", "--Raft:InitialClusterToken=samples")).ToArray();
        try
        {
            foreach (var m in members)
                Assert.Equal("ready", await m.NextLineAsync(Answer));
            var value = $"hello-{Guid.NewGuid():N}";
            Assert.Equal("ok (was nothing)", await members[0].AskAsync($"set greeting {value}", Answer));
            // Written through n1, read (linearizably) through n2 and n3.
            Assert.Equal($"value {value}", await members[1].AskAsync("get greeting", Answer));
            Assert.Equal($"value {value}", await members[2].AskAsync("get greeting", Answer));
            // The typed result: the previous value, returned to the proposer on another member.
            Assert.Equal($"ok (was {value})", await members[2].AskAsync("set greeting bye", Answer));
            Assert.Equal("value bye", await members[0].AskAsync("get greeting", Answer));
            foreach (var m in members)
                m.CloseInput();
            foreach (var m in members)
                Assert.Equal(0, await m.ExitCodeAsync(Answer));
        }
        finally
        {
            foreach (var m in members)
            {
                log.WriteLine($"--- {m.Name} ---\n{m.Log}");
                m.Dispose();
            }
        }
    }

    [Fact]
    public async Task TheAspNetCoreSampleServesPutAndGet()
    {
        Assert.True(packed.Pack.Exit == 0, packed.Pack.Output);
        var (exit, output, dir) = packed.Build("ReplicatedDictionary.Web");
        Assert.True(exit == 0, output);
        var client = $"http://127.0.0.1:{FreePort()}";
        var peer = $"http://127.0.0.1:{FreePort()}";
        using var member = SampleProcess.Start(Path.Combine(dir, "ReplicatedDictionary.Web.dll"), packed.Root,
            "--urls", client, "--Raft:Name=w1", $"--Raft:DataDir={Path.Combine(packed.Root, "data", "w1")}",
            $"--Raft:ListenPeerUrls={peer}", $"--Raft:InitialAdvertisePeerUrls={peer}", $"--Raft:AdvertiseClientUrls={client}");
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(client), Timeout = Answer };
            var deadline = DateTime.UtcNow + Answer;
            HttpResponseMessage? put = null;
            while (put is null)
            {
                try
                {
                    put = await http.PutAsync("/kv/colour", new StringContent("blue"));
                }
                catch (HttpRequestException) when (DateTime.UtcNow < deadline && !member.HasExited)
                {
                    await Task.Delay(200);
                }
            }
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
            Assert.Equal("", await put.Content.ReadAsStringAsync());
            var again = await http.PutAsync("/kv/colour", new StringContent("green"));
            Assert.Equal("blue", await again.Content.ReadAsStringAsync());
            Assert.Equal("green", await http.GetStringAsync("/kv/colour"));
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/kv/none")).StatusCode);
        }
        finally
        {
            log.WriteLine(member.Log);
        }
    }

    [Fact]
    public void TheRaftToolInstallsFromTheFeedAndRuns()
    {
        Assert.True(packed.Pack.Exit == 0, packed.Pack.Output);
        var tools = Path.Combine(packed.Root, "tools");
        var (exit, output) = PackedSamples.Dotnet(packed.Root, TimeSpan.FromMinutes(2),
            "tool", "install", "Raft.Tool", "--tool-path", tools, "--version", packed.Version, "--add-source", packed.Feed);
        Assert.True(exit == 0, output);
        var psi = new ProcessStartInfo(Path.Combine(tools, "raft"), ["--help"]) { RedirectStandardOutput = true, UseShellExecute = false };
        using var raft = Process.Start(psi)!;
        var help = raft.StandardOutput.ReadToEnd();
        Assert.True(raft.WaitForExit(60_000), "raft --help did not exit");
        Assert.Equal(0, raft.ExitCode);
        Assert.Contains("serve", help);
        Assert.Contains("local-cluster", help);
    }

    private static int FreePort() => FreePorts.OnLoopback();

    /// <summary>A sample program run as <c>dotnet sample.dll</c>, its standard output read line by line.</summary>
    private sealed class SampleProcess : IDisposable
    {
        private readonly Process _process;
        private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
        private readonly System.Text.StringBuilder _log = new();

        private SampleProcess(Process process, string name)
        {
            _process = process;
            Name = name;
        }

        public string Name { get; }

        public bool HasExited => _process.HasExited;

        public string Log
        {
            get
            {
                lock (_log) return _log.ToString();
            }
        }

        public static SampleProcess Start(string dll, string workingDirectory, params string[] args)
        {
            var psi = PackedSamples.DotnetStartInfo(workingDirectory, [dll, .. args]);
            psi.RedirectStandardInput = true;
            var p = new SampleProcess(new Process { StartInfo = psi }, args.FirstOrDefault(a => a.StartsWith("--Raft:Name=", StringComparison.Ordinal)) ?? dll);
            p._process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    p._lines.Writer.TryComplete();
                    return;
                }
                lock (p._log) p._log.AppendLine("out: " + e.Data);
                p._lines.Writer.TryWrite(e.Data);
            };
            p._process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                    lock (p._log) p._log.AppendLine("err: " + e.Data);
            };
            p._process.Start();
            p._process.BeginOutputReadLine();
            p._process.BeginErrorReadLine();
            return p;
        }

        public async Task<string> NextLineAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                return await _lines.Reader.ReadAsync(cts.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
            {
                throw new Xunit.Sdk.XunitException($"{Name}: no line within {timeout} (exited: {_process.HasExited})\n{Log}");
            }
        }

        public async Task<string> AskAsync(string line, TimeSpan timeout)
        {
            await _process.StandardInput.WriteLineAsync(line);
            await _process.StandardInput.FlushAsync();
            return await NextLineAsync(timeout);
        }

        public void CloseInput() => _process.StandardInput.Close();

        public async Task<int> ExitCodeAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            await _process.WaitForExitAsync(cts.Token);
            return _process.ExitCode;
        }

        public void Dispose()
        {
            try
            {
                if (!_process.HasExited)
                    _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
            _process.Dispose();
        }
    }
}
