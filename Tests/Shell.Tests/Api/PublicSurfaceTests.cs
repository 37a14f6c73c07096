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
    public void TheNodeNamespaceExportsOnlyWhatAHostNeeds()
    {
        // The runner, apply loop, metrics, failpoints, membership bookkeeping and request waits are
        // internal; the extension points for advanced hosts and tests live in Raft.Shell.Node.Advanced.
        string[] expected = ["Raft.Shell.Node.NodeStartException", "Raft.Shell.Node.RaftNode", "Raft.Shell.Node.RaftNodeDependencies", "Raft.Shell.Node.RaftNodeOptions"];
        var exported = NodeAssembly.GetExportedTypes().Where(t => t.Namespace == "Raft.Shell.Node").Select(t => t.FullName!).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expected, exported);
        Assert.All(NodeAssembly.GetExportedTypes().Where(t => t.Namespace == "Raft.Shell.Node.Advanced"),
            t => Assert.Contains(t.Name, new[] { "PlannerFunction", "IPeerTransport", "NoPeerTransport", "PeerTransportContext", "PeerTransportFactory", "RemoteCluster", "ClusterFetcher" }));
    }

    [Fact]
    public void TheNodePackageNeedsNoWebFramework()
    {
        var references = NodeAssembly.GetReferencedAssemblies().Select(a => a.Name!).ToArray();
        Assert.Contains("Microsoft.Extensions.Hosting.Abstractions", references);
        Assert.DoesNotContain(references, r => r.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal));
    }
}
