using Raft.Shell.Node;

namespace Raft.Shell.Tests.Api;

public class PublicSurfaceTests
{
    private static readonly System.Reflection.Assembly NodeAssembly = typeof(RaftNode).Assembly;

    [Fact]
    public void TheNodePackageExportsNoStorageInternals()
    {
        string[] internalNamespaces = ["Raft.Shell.Wal", "Raft.Shell.Snap", "Raft.Shell.Storage", "Raft.Shell.IO"];
        var exported = NodeAssembly.GetExportedTypes().Where(t => internalNamespaces.Contains(t.Namespace)).Select(t => t.FullName).ToArray();
        Assert.Empty(exported);
        // They are there, only not public.
        Assert.All(internalNamespaces, ns => Assert.Contains(NodeAssembly.GetTypes(), t => t.Namespace == ns));
    }

    [Fact]
    public void TheNodePackageNeedsNoWebFramework()
    {
        var references = NodeAssembly.GetReferencedAssemblies().Select(a => a.Name!).ToArray();
        Assert.Contains("Microsoft.Extensions.Hosting.Abstractions", references);
        Assert.DoesNotContain(references, r => r.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal));
    }
}
