using System.Reflection;
using System.Runtime.Loader;
using Raft.Core;
using Raft.Shell.Node;
using Raft.Shell.Node.Advanced;

namespace Raft.Cli;

/// <summary>
/// For crash tests only: <c>RAFT_PLANNER=/path/to/Assembly.dll:Namespace.Type.Method</c> makes
/// <c>raft serve</c> run with another planner, a public static method
/// <c>Plan Method(PlanInput, PlannerState)</c>, so a test can show that it catches a planner that
/// breaks the seed's rules. Unset, the node uses Core's planner.
/// </summary>
public static class PlannerOverride
{
    /// <summary>The environment variable.</summary>
    public const string EnvironmentVariable = "RAFT_PLANNER";

    /// <summary>The planner named by the variable, null when it is unset; throws with a clear message when it cannot be loaded.</summary>
    public static PlannerFunction? FromEnvironment() => Load(Environment.GetEnvironmentVariable(EnvironmentVariable));

    /// <summary>Loads <c>path:Type.Method</c>.</summary>
    public static PlannerFunction? Load(string? spec)
    {
        if (string.IsNullOrWhiteSpace(spec))
            return null;
        var colon = spec.LastIndexOf(':');
        var lastDot = colon < 0 ? -1 : spec.LastIndexOf('.');
        if (colon <= 0 || lastDot <= colon)
            throw new ArgumentException($"{EnvironmentVariable} must be /path/to/Assembly.dll:Namespace.Type.Method (got \"{spec}\")");
        var path = Path.GetFullPath(spec[..colon]);
        var typeName = spec[(colon + 1)..lastDot];
        var methodName = spec[(lastDot + 1)..];
        var assembly = AssemblyLoadContext.Default.LoadFromAssemblyPath(path);
        var type = assembly.GetType(typeName, throwOnError: false)
            ?? throw new ArgumentException($"{EnvironmentVariable}: no type {typeName} in {path}");
        var method = type.GetMethod(methodName, BindingFlags.Public | BindingFlags.Static, [typeof(PlanInput), typeof(PlannerState)])
            ?? throw new ArgumentException($"{EnvironmentVariable}: no public static {methodName}(PlanInput, PlannerState) on {typeName}");
        if (method.ReturnType != typeof(Plan))
            throw new ArgumentException($"{EnvironmentVariable}: {typeName}.{methodName} must return Plan");
        return method.CreateDelegate<PlannerFunction>();
    }
}
