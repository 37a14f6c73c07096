namespace Raft.Shell.Tests.Compat;

/// <summary>
/// A fact that needs the <c>etcd</c> binary. Outside CI it is skipped, saying why, when etcd is not
/// on PATH; with CI=true it always runs, so a missing etcd fails it.
/// </summary>
public sealed class EtcdFactAttribute : FactAttribute
{
    public EtcdFactAttribute()
    {
        if (EtcdBinary.Path is null && Environment.GetEnvironmentVariable("CI") != "true")
            Skip = "etcd not found on PATH (Debian package etcd-server; .ci/run installs it); this test runs in CI";
    }
}

/// <summary>Where the etcd binary is, if anywhere on PATH.</summary>
public static class EtcdBinary
{
    public static string? Path { get; } =
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => System.IO.Path.Combine(d, "etcd")).FirstOrDefault(File.Exists);
}
