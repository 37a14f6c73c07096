using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Raft.Shell.Tests.Grpc;

/// <summary>What one etcdctl run printed and how it exited.</summary>
internal sealed record EtcdctlResult(int ExitCode, string Stdout, string Stderr, string CommandLine)
{
    public bool Ok => ExitCode == 0;

    public JsonNode Json => JsonNode.Parse(Stdout) ?? throw new InvalidOperationException($"no JSON from {CommandLine}");

    public override string ToString() => $"`{CommandLine}` exited {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}";
}

/// <summary>
/// etcd's own command line client (etcdctl 3.4, Debian's etcd-client), run as a process with
/// <c>ETCDCTL_API=3</c>. Endpoints are given as users write them, <c>http://host:port</c> (which
/// etcdctl's maintenance calls send as the HTTP/2 authority, see HpackAuthority).
/// </summary>
internal static class Etcdctl
{
    /// <summary>etcdctl on PATH, or null.</summary>
    public static string? Path { get; } =
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => System.IO.Path.Combine(d, "etcdctl")).FirstOrDefault(File.Exists);

    /// <summary>Fails the test, saying what to install, when etcdctl is missing.</summary>
    public static string Require() =>
        Path ?? throw new Xunit.Sdk.XunitException("etcdctl not found on PATH: these tests speak to the gRPC API with etcd's own client; install Debian's etcd-client (.ci/run does)");

    public static Task<EtcdctlResult> RunAsync(IEnumerable<string> endpoints, params string[] args) => RunWithInputAsync(endpoints, "", args);

    /// <summary>Runs etcdctl with <paramref name="input"/> on its standard input (etcdctl txn reads its requests there).</summary>
    public static async Task<EtcdctlResult> RunWithInputAsync(IEnumerable<string> endpoints, string input, params string[] args)
    {
        var psi = StartInfo(endpoints, args);
        var commandLine = CommandLine(psi);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start etcdctl");
        await p.StandardInput.WriteAsync(input);
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await p.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{commandLine} did not finish in 60 s");
        }
        return new EtcdctlResult(p.ExitCode, await stdout, await stderr, commandLine);
    }

    /// <summary>etcdctl with the endpoints, etcd's API 3 and generous timeouts, every stream redirected.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> endpoints, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(Require())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        psi.Environment["ETCDCTL_API"] = "3";
        psi.ArgumentList.Add("--endpoints=" + string.Join(",", endpoints));
        psi.ArgumentList.Add("--dial-timeout=5s");
        psi.ArgumentList.Add("--command-timeout=20s");
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }

    public static string CommandLine(ProcessStartInfo psi) => "etcdctl " + string.Join(" ", psi.ArgumentList);

    /// <summary>Runs and fails the test with everything etcdctl printed unless it exits 0.</summary>
    public static async Task<EtcdctlResult> OkAsync(IEnumerable<string> endpoints, params string[] args)
    {
        var r = await RunAsync(endpoints, args);
        Assert.True(r.Ok, r.ToString());
        return r;
    }

    /// <summary>A 64-bit field of either JSON form (etcdctl's number, the gateway's string); 0 when left out.</summary>
    public static long Int64(JsonNode? n) => n is null ? 0 : long.Parse(n.ToJsonString().Trim('"'), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// A JSON answer in one comparable form: etcdctl prints Go's JSON of the message (64-bit numbers
    /// as numbers) and the gateway prints grpc-gateway's (64-bit numbers as strings); both leave zero
    /// fields out. Numbers become strings, and the fields in <paramref name="ignore"/> are dropped.
    /// </summary>
    public static string Normalize(JsonNode? node, params string[] ignore)
    {
        JsonNode? Walk(JsonNode? n) => n switch
        {
            JsonObject o => new JsonObject(o.Where(p => !ignore.Contains(p.Key)).Select(p => KeyValuePair.Create(p.Key, Walk(p.Value)))),
            JsonArray a => new JsonArray(a.Select(Walk).ToArray()),
            JsonValue v when v.GetValueKind() == JsonValueKind.Number => JsonValue.Create(v.ToJsonString()),
            JsonValue v => JsonValue.Create(v.ToJsonString().Trim('"')),
            _ => null,
        };
        return Walk(node)?.ToJsonString() ?? "null";
    }
}
